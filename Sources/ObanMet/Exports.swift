// The public surface of ObanMet (docs/embedding.md): `MetNode` and what its API names, re-exported
// one declaration at a time from the internal modules, so that a worker sees these and nothing else.

// Recording (MetRecorder).
@_exported import class MetRecorder.NodeRecorder
@_exported import class MetRecorder.JobHandle
@_exported import enum MetRecorder.JobOutcome
@_exported import enum MetRecorder.EngineOperation
@_exported import class MetRecorder.CountInstrument
@_exported import class MetRecorder.SketchInstrument
@_exported import class MetRecorder.GaugeInstrument
@_exported import struct MetRecorder.RecorderMetricsFactory

// Values and queries (MetStore).
@_exported import struct MetStore.Origin
@_exported import struct MetStore.LabelSet
@_exported import enum MetStore.JobState
@_exported import enum MetStore.SeriesKind
@_exported import struct MetStore.Selection
@_exported import struct MetStore.LabelFilter
@_exported import enum MetStore.QueryOp
@_exported import enum MetStore.QueryError
@_exported import struct MetStore.SliceRow
@_exported import enum MetStore.Fill
@_exported import struct MetStore.SummaryRow
@_exported import struct MetStore.SeriesDescription
@_exported import struct MetStore.QueueCheck

// Configuration and the cluster's state (MetRuntime).
@_exported import struct MetRuntime.NodeConfig
@_exported import enum MetRuntime.ConfigError
@_exported import struct MetRuntime.ClusterStatus
