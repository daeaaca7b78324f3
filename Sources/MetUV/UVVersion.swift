import CLibUV

/// The libuv library this process is linked against.
///
/// `MetUV` is the only module that imports `CLibUV`; everything libuv-shaped goes through here.
package enum UV {
    /// The runtime libuv version (not the headers' version): `uv_version()` packs it as
    /// `major << 16 | minor << 8 | patch`.
    package static var version: (major: Int, minor: Int, patch: Int) {
        let packed = Int(uv_version())
        return (major: (packed >> 16) & 0xff, minor: (packed >> 8) & 0xff, patch: packed & 0xff)
    }

    /// The runtime libuv version as text, e.g. `"1.44.2"`.
    package static var versionString: String {
        // uv_version_string() returns a pointer to a static, NUL-terminated string that lives as long as the process.
        String(cString: uv_version_string())
    }
}
