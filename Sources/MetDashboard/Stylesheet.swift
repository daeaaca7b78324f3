/// The page's CSS, inline in its `<head>`: system fonts only (nothing fetched), colours as
/// custom properties switched by `prefers-color-scheme`, the Okabe–Ito palette as `c0`…`c7`.
package enum Stylesheet {
    package static let css = """
    :root{--bg:#f4f6f8;--card:#fff;--fg:#1b2230;--muted:#5a6473;--grid:#e4e7ec;--border:#dde2e8;--hover:rgba(27,34,48,.08);\
    --accent:#0072B2;--ok:#00795a;--warn:#a15c00;--bad:#c0392b;color-scheme:light dark}
    @media (prefers-color-scheme:dark){:root{--bg:#0e1217;--card:#161b22;--fg:#e4e8ee;--muted:#98a2b0;--grid:#29303a;--border:#262d37;\
    --hover:rgba(228,232,238,.1);--accent:#3b9ede;--ok:#3cc99a;--warn:#f0b440;--bad:#ff7b6b}.c7{color:#cfd4da!important}}
    .c0{color:#0072B2}.c1{color:#E69F00}.c2{color:#009E73}.c3{color:#D55E00}.c4{color:#56B4E9}.c5{color:#CC79A7}.c6{color:#F0E442}\
    .c7{color:#000}.cx{color:#9aa1a9}
    *{box-sizing:border-box}
    body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;\
    font-variant-numeric:tabular-nums}
    header.top{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 14px;padding:10px 20px;background:var(--card);border-bottom:1px solid var(--border)}
    header.top h1{font-size:17px;margin:0;letter-spacing:.2px}
    header.top .where{color:var(--muted)}
    header.top .where b{color:var(--fg);font-weight:600}
    .live{margin-left:auto;color:var(--muted);font-size:12px;display:flex;align-items:center;gap:6px}
    .live::before{content:"";width:8px;height:8px;border-radius:50%;background:var(--muted)}
    .js .live.on::before{background:var(--ok)}.js .live.off::before{background:var(--bad)}
    main{padding:12px 20px 24px;max-width:1680px;margin:0 auto}
    .controls{display:flex;flex-wrap:wrap;align-items:center;gap:8px 14px;margin:0 0 10px}
    .seg{display:flex;border:1px solid var(--border);border-radius:6px;padding:0;margin:0;overflow:hidden;background:var(--card)}
    .seg legend{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
    .seg label{position:relative}
    .seg input{position:absolute;opacity:0;inset:0;margin:0;cursor:pointer}
    .seg span{display:block;padding:4px 10px;font-size:13px;border-left:1px solid var(--border)}
    .seg label:first-of-type span{border-left:0}
    .seg input:checked+span{background:var(--accent);color:#fff}
    .seg input:focus-visible+span{outline:2px solid var(--accent);outline-offset:-2px}
    .sel{font-size:13px;color:var(--muted);display:flex;align-items:center;gap:6px}
    select,button{font:inherit;font-size:13px;color:var(--fg);background:var(--card);border:1px solid var(--border);border-radius:6px;padding:3px 6px}
    button{cursor:pointer}.js .apply{display:none}
    .reset{font-size:13px;color:var(--accent)}
    .filter{position:relative;font-size:13px}
    .filter summary{cursor:pointer;list-style:none;border:1px solid var(--border);border-radius:6px;padding:3px 8px;background:var(--card);color:var(--muted)}
    .filter summary::-webkit-details-marker{display:none}
    .filter summary::after{content:" ▾"}
    .filter summary b{color:var(--fg);font-weight:600}
    .filter .opts{position:absolute;z-index:5;top:100%;left:0;margin-top:4px;min-width:180px;max-height:280px;overflow:auto;background:var(--card);\
    border:1px solid var(--border);border-radius:6px;padding:6px 8px;box-shadow:0 6px 20px rgba(0,0,0,.18)}
    .filter .opts label{display:flex;gap:6px;align-items:center;padding:2px 0;white-space:nowrap}
    .filter .none{color:var(--muted)}
    .status{color:var(--muted);font-size:12px;margin:0 0 10px}
    .grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:12px;margin-top:12px}
    .card{background:var(--card);border:1px solid var(--border);border-radius:8px;padding:12px 14px 10px;margin:0;min-width:0}
    .card h2{font-size:15px;margin:0;font-weight:600}
    figcaption{margin:0}
    .sub{color:var(--muted);font-size:12px;margin:1px 0 6px}
    .legend{list-style:none;display:flex;flex-wrap:wrap;gap:2px 14px;padding:0;margin:2px 0 4px;font-size:12px;color:var(--muted)}
    .legend li{display:flex;align-items:center;gap:5px}
    .legend b{font-weight:600;color:var(--fg)}
    .sw{display:inline-block;width:10px;height:10px;border-radius:2px;background:currentColor;flex:none}
    .swl line{stroke:currentColor;stroke-width:2.5}
    svg.plot{display:block;overflow:visible;font-size:11px;margin-top:2px}
    .grid line{stroke:var(--grid);stroke-width:1}
    .bars path{fill:currentColor}
    .lines path{fill:none;stroke:currentColor;stroke-width:2;vector-effect:non-scaling-stroke;stroke-linejoin:round;stroke-linecap:round}
    .dot{fill:currentColor}
    .hit rect{fill:transparent}.hit rect:hover{fill:var(--hover)}
    .marker line{stroke:var(--fg);stroke-width:1.2;stroke-dasharray:4 3;vector-effect:non-scaling-stroke;opacity:.75}
    .marker .mhit{stroke:transparent;stroke-width:9;stroke-dasharray:none;opacity:1}
    .quantile line{stroke:var(--fg);stroke-width:1;stroke-dasharray:2 2;vector-effect:non-scaling-stroke;opacity:.7}
    .mlab text{fill:var(--fg);font-size:11px;paint-order:stroke;stroke:var(--card);stroke-width:3px;stroke-linejoin:round}
    .ylab text{fill:var(--muted);paint-order:stroke;stroke:var(--card);stroke-width:3px;stroke-linejoin:round;pointer-events:none}
    .xlab text{fill:var(--muted)}.xlab line{stroke:var(--muted)}
    .empty{fill:var(--muted);font-size:13px}
    .hbars text{fill:var(--fg);font-size:12px}.hbars text.v{font-weight:600}
    .hbars rect{fill:currentColor}.hbars rect.track{fill:var(--grid)}
    .note{color:var(--muted);font-size:12px;margin:4px 0 0}
    details.table{margin-top:4px;font-size:12px}
    details.table summary{cursor:pointer;color:var(--muted);width:max-content}
    .scroll{overflow:auto;max-height:320px}
    table{border-collapse:collapse;width:100%;font-size:12px}
    th,td{text-align:right;padding:3px 8px;border-bottom:1px solid var(--grid);white-space:nowrap}
    th:first-child,td:first-child{text-align:left}
    thead th{color:var(--muted);font-weight:600;position:sticky;top:0;background:var(--card)}
    tbody th{font-weight:500}
    .counts{margin-top:0}
    .tiles{list-style:none;padding:0;margin:6px 0 0;display:grid;grid-template-columns:repeat(auto-fill,minmax(118px,1fr));gap:8px}
    .tiles li{border:1px solid var(--border);border-radius:6px;padding:6px 10px;display:grid;grid-template-columns:auto 1fr;align-items:center;gap:0 6px}
    .tiles .k{color:var(--muted);font-size:12px}
    .tiles b{grid-column:1/3;font-size:22px;font-weight:600;line-height:1.2}
    .unavailable{color:var(--warn);margin:6px 0}
    .facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:6px 14px;margin:6px 0 10px}
    .facts div{min-width:0}.facts dt{color:var(--muted);font-size:12px}.facts dd{margin:0;overflow-wrap:anywhere}
    .ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}
    .st{font-weight:600}
    .badge{font-size:11px;border:1px solid var(--border);border-radius:4px;padding:0 4px;color:var(--muted);font-weight:500}
    .addr{color:var(--muted)}
    .meter{display:inline-block;width:48px;height:6px;border-radius:3px;background:var(--grid);vertical-align:middle;overflow:hidden}
    .meter span{display:block;height:100%;background:var(--accent)}
    .markers ol{margin:6px 0 0;padding-left:20px;font-size:13px}.markers time{color:var(--muted)}
    footer{color:var(--muted);font-size:12px;padding:0 20px 20px;max-width:1680px;margin:0 auto}
    a{color:var(--accent)}
    @media (max-width:600px){header.top{padding:8px 12px}main{padding:10px 12px 20px}.card{padding:10px 10px 8px}\
    .tiles{grid-template-columns:repeat(4,minmax(0,1fr));gap:5px}.tiles li{padding:4px 5px;gap:0 4px}.tiles .sw{width:7px;height:7px}\
    .tiles .k{font-size:10px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.tiles b{font-size:16px}\
    .live{margin-left:0;width:100%}}
    """
}
