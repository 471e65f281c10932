// Package metrics declares kvd's Prometheus metrics: etcd's names, help
// texts, labels and buckets, so etcd's dashboards and alerts read kvd
// unchanged. It is the ONE table of metric names; no other package spells a
// metric name.
//
// Contract:
//
//  1. Every collector is a package variable here (or, for the gRPC server
//     metrics, built once by GRPCServer). Its comment names the etcd v3.7.3
//     file that declares the same metric; docs/metrics.md lists them all with
//     where kvd observes each.
//  2. The package that observes a metric registers it, in an init of its
//     own (MustRegister into prometheus.DefaultRegisterer, as etcd does): a
//     metric is exported iff the code that moves it is linked in. The Go and
//     process collectors come with the default registry.
//  3. Observing is a one-line call on the hot path and MUST NOT allocate:
//     unlabelled collectors are used directly, labelled ones are resolved
//     once (ForPeer, at peer creation) and the child kept.
//  4. Handler serves the default gatherer in the Prometheus text format.
//
// The package imports no project package, so internal/node, internal/store,
// internal/wal and internal/transport can all depend on it.
package metrics
