/// The page's only script, served as `/dashboard.js` (same origin, so the page's content
/// security policy can forbid inline script). Without it the page is complete; with it:
/// - the controls apply as soon as they change (filters when their list closes);
/// - the live part of the page is fetched again every refresh interval from
///   `/dashboard/live` with the same query and swapped in card by card, without a reload,
///   keeping open tables and leaving alone a chart the pointer is over; polling pauses while
///   the tab is hidden and backs off while the node does not answer.
package enum LiveScript {
    package static let javaScript = #"""
    (function () {
      "use strict";
      var doc = document;
      doc.documentElement.classList.add("js");

      var form = doc.getElementById("controls");
      if (form) {
        var dirty = false;
        var submit = function () { if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); } };
        form.addEventListener("change", function (e) {
          if (e.target.type === "checkbox") { dirty = true; return; }
          submit();
        });
        form.querySelectorAll("details.filter").forEach(function (d) {
          d.addEventListener("toggle", function () { if (!d.open && dirty) { submit(); } });
        });
        doc.addEventListener("click", function (e) {
          form.querySelectorAll("details.filter[open]").forEach(function (d) {
            if (!d.contains(e.target)) { d.open = false; }
          });
        });
      }

      var root = doc.getElementById("live-root");
      var badge = doc.getElementById("live");
      if (!root) { return; }
      var every = Math.max(0.5, parseFloat(root.getAttribute("data-refresh")) || 1) * 1000;
      var url = "/dashboard/live" + location.search;
      var timer = 0;
      var failures = 0;
      var busy = false;

      function state(on, text) {
        if (!badge) { return; }
        badge.classList.toggle("on", on);
        badge.classList.toggle("off", !on);
        if (text) { badge.textContent = text; }
      }

      function schedule(ms) {
        clearTimeout(timer);
        timer = setTimeout(tick, ms);
      }

      function openTables(el) {
        var open = [];
        el.querySelectorAll("details").forEach(function (d, i) { if (d.open) { open.push(i); } });
        return open;
      }

      function swap(html) {
        var t = doc.createElement("template");
        t.innerHTML = html;
        var next = t.content.querySelector("#live-root");
        if (!next) { throw new Error("no live-root in the answer"); }
        var cards = next.querySelectorAll("[data-card]");
        var same = cards.length === root.querySelectorAll("[data-card]").length;
        cards.forEach(function (card) { if (!doc.getElementById(card.id)) { same = false; } });
        if (!same) {
          root.replaceWith(next);
          root = next;
          return;
        }
        cards.forEach(function (card) {
          var old = doc.getElementById(card.id);
          if (old.matches(":hover") && old.querySelector(".hit")) { return; }
          var keep = openTables(old);
          card.querySelectorAll("details").forEach(function (d, i) { if (keep.indexOf(i) >= 0) { d.open = true; } });
          var scrolls = old.querySelectorAll(".scroll");
          var positions = [];
          scrolls.forEach(function (s) { positions.push(s.scrollTop); });
          old.replaceWith(card);
          card.querySelectorAll(".scroll").forEach(function (s, i) { if (positions[i]) { s.scrollTop = positions[i]; } });
        });
        root.setAttribute("data-now", next.getAttribute("data-now"));
      }

      function tick() {
        if (doc.hidden || busy) { return; }
        busy = true;
        fetch(url, { cache: "no-store", headers: { "Accept": "text/html" } })
          .then(function (r) {
            if (!r.ok) { throw new Error("HTTP " + r.status); }
            return r.text();
          })
          .then(function (html) {
            swap(html);
            failures = 0;
            state(true, "live");
            busy = false;
            schedule(every);
          })
          .catch(function () {
            failures += 1;
            state(false, "not updating: the node does not answer");
            busy = false;
            schedule(Math.min(30000, every * Math.pow(2, Math.min(failures, 6))));
          });
      }

      doc.addEventListener("visibilitychange", function () { if (!doc.hidden) { schedule(0); } });
      state(true, "live");
      schedule(every);
    })();
    """#
}
