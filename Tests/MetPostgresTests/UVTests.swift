import MetUV
import Testing

@Suite struct UVTests {
    @Test func versionIsAtLeast1_44() {
        let v = UV.version
        #expect(v.major == 1 && v.minor >= 44, "libuv \(UV.versionString) is older than 1.44")
        #expect(UV.versionString.hasPrefix("\(v.major).\(v.minor)."))
    }

    @Test func checkPassesNonNegativeStatus() throws {
        #expect(try uvCheck(0, "uv_run") == 0)
        #expect(try uvCheck(7, "uv_try_write") == 7)
    }

    @Test func checkMapsNegativeStatusToNamedError() {
        // UV_EINVAL is -EINVAL, -22 on Linux.
        let error = #expect(throws: UVError.self) { try uvCheck(-22, "uv_tcp_bind") }
        #expect(error?.call == "uv_tcp_bind")
        #expect(error?.code == -22)
        #expect(error?.name == "EINVAL")
        #expect(error?.message == "invalid argument")
        #expect(error?.description == "uv_tcp_bind failed: EINVAL (invalid argument)")
    }

    @Test func unknownCodeStillDescribed() {
        let error = UVError(code: -987_654, call: "uv_fake")
        #expect(!error.name.isEmpty)
        #expect(!error.message.isEmpty)
    }
}
