// Package robustness is kvtrace's robustness suite, after etcd's
// tests/robustness: several clients send a random mix of requests (put, get,
// range, txn with compares, delete, put with a lease) to a cluster of real
// kvd processes while a fault schedule runs (kill -9 of the leader and of
// random members, SIGSTOP/SIGCONT pauses, panics at failpoints, message
// blackholes, delays and drops through the admin API, and an isolation long
// enough that the member can only catch up by snapshot). Afterwards:
//
//  1. every watch stream (one per member, from revision 1) is checked for
//     ordered, unique, atomic and reliable delivery, and all of them for the
//     same event at every revision;
//  2. every acknowledged write is found in the watch history at the revision
//     it was acknowledged with (no acknowledged write lost);
//  3. the history of operations, with invoke and return times, is checked for
//     linearizability with porcupine against a model of the whole keyspace
//     with revisions (model_test.go). A request that failed or timed out may
//     or may not have been applied: a put carries a unique value, so the watch
//     history says which; what stays unknown is kept pending (its return time
//     is infinity, so porcupine may order it anywhere after its call, or
//     after everything, which is "not applied");
//  4. every member reports the same HashKV at the same revision.
//
// A failing run KEEPS its directory (data dirs, member logs, span files,
// history.json and the porcupine visualization linearizability.html) and
// prints its path.
//
// `go test ./tests/robustness` (and so `make test`) runs a short schedule;
// `make test-robustness` runs the long one (-robustness.rounds, see
// main_test.go and docs/reliability.md).
package robustness
