// libFuzzer target for the decoders that read bytes from the network (RELIABILITY S8): frames,
// batches (with their moves), member lists, keyframes and count deltas, handshake hellos, holdings,
// probes and evidence, resends, relayed frames, snapshot ends, sketches and snapshot chunks; and
// the pgoutput messages the leader reads from Postgres's replication stream; and the `POST /api/events` reader, which must also agree with
// JSONSerialization on every input.
//
//   swift build --product MetFuzz -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
//   SWIFT_BACKTRACE=enable=no .build/release/MetFuzz -max_total_time=60
//
// SwiftPM links executables with their own `main`, which would bypass libFuzzer's: so this
// `main` calls LLVMFuzzerRunDriver itself. Without FUZZING it only explains how to build it.
#if FUZZING
import Glibc
import MetMesh
import MetPostgres
import MetRuntime
import MetStore
import MetValues
import MetWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The buffer belongs to libFuzzer for the duration of this call; it is copied at once.
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var decoder = FrameDecoder(limit: 4096)
    if let frames = try? decoder.feed(bytes) {
        for f in frames {
            _ = try? BatchCodec.decode(f.payload)
            _ = try? MemberListCodec.decode(f.payload)
            _ = try? KeyframeCodec.decode(f.payload)
            _ = try? CountCodec.decode(f.payload)
            _ = try? HandoffCodec.decode(f.payload)
            _ = try? HandoffCodec.decodeAck(f.payload)
            _ = try? Hello.decode(f.payload)
            _ = try? Holdings.decode(f.payload)
            _ = try? Evidence.decode(f.payload)
            _ = try? Evidence.decodeProbe(f.payload)
            _ = try? ResendRequest.decode(f.payload)
            _ = try? RelayCodec.decode(f.payload)
            _ = try? SnapshotEnd.decode(f.payload)
        }
    }
    _ = try? BatchCodec.decode(bytes)
    _ = try? KeyframeCodec.decode(bytes)
    _ = try? CountCodec.decode(bytes)
    if let message = try? PgOutputMessage.decode(bytes[...]) {
        var stream = JobChangeStream(namespace: "public", maxChanges: 16)
        _ = try? stream.feed(.relation(PgRelation(id: 1, namespace: "public", name: "oban_jobs", columns: ["id", "state", "queue"])))
        _ = try? stream.feed(.begin(finalLSN: 0, xid: 1))
        _ = try? stream.feed(message)
        _ = try? stream.feed(.commit(lsn: 1, endLSN: 2))
    }
    _ = try? HandoffCodec.decode(bytes)
    _ = try? Sketch(decoding: bytes)
    _ = try? SeriesStore().merge(chunk: bytes, now: 1_800_000_000)
    // The events reader: never traps, and accepts or refuses exactly as JSONSerialization does.
    let fast = Result { () throws(JobEvent.ParseError) in try JobEvent.parseLines(bytes) }
    let reference = Result { () throws(JobEvent.ParseError) in try JobEvent.parseLinesWithFoundation(bytes) }
    switch (fast, reference) {
    case (.success(let a), .success(let b)): precondition(a == b, "EventLineReader and JSONSerialization read different events")
    case (.failure(let a), .failure(let b)): precondition(a == b, "EventLineReader and JSONSerialization refuse differently: \(a) / \(b)")
    default: preconditionFailure("EventLineReader and JSONSerialization disagree: \(fast) / \(reference)")
    }
    return 0
}

typealias FuzzTarget = @convention(c) (UnsafePointer<UInt8>, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ target: FuzzTarget
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
// The pointers stay valid for the whole run: they are the process's own arguments.
exit(LLVMFuzzerRunDriver(&argc, &argv, { fuzzOne($0, $1) }))
#else
print("MetFuzz: build with -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING (see scripts/fuzz)")
#endif
