import MetStore
import MetValues

/// The payload of a `moves` frame (type 21): ``MovesAhead`` in the form of a batch that holds
/// nothing but its moves (``BatchCodec``), numbered with `afterSeq` and stamped 0. Never
/// merged as a batch: it only tells `full_count` of moves before their batch comes.
package enum MovesCodec {
    package static func encode(_ sent: MovesAhead) -> [UInt8] {
        BatchCodec.encode(DeltaBatch(origin: sent.origin, seq: sent.afterSeq, timestamp: 0, entries: [], moves: sent.moves))
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> MovesAhead {
        let batch = try BatchCodec.decode(bytes)
        guard batch.entries.isEmpty, batch.checks.isEmpty, !batch.moves.isEmpty else { throw .invalid("moves frame with more than moves") }
        return MovesAhead(origin: batch.origin, afterSeq: batch.seq, moves: batch.moves)
    }
}
