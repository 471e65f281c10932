// Package transport carries raft messages between the members of a kvtrace
// cluster over gRPC streams. It plays the part of etcd's
// server/etcdserver/api/rafthttp, with one long-lived gRPC stream per peer
// and direction instead of rafthttp's HTTP streams and pipelines.
//
// # Usage
//
//  1. New(Config{ID, ClusterID, Handler, ...}).
//  2. Build the member's peer gRPC server with Transport.ServerOptions (the
//     default gRPC receive limit of 4 MiB is below MaxMsgBytes) and call
//     Register on it BEFORE it serves, so peers can reach this member.
//  3. AddPeer for every other member; UpdatePeer when its URLs change;
//     RemovePeer when it leaves the cluster.
//  4. Send the messages of every raft Ready. Send never blocks on the
//     network: it queues and returns. The leader may Send before its own WAL
//     fsync; followers MUST persist BEFORE they Send (that ordering is the
//     node's job, not this package's).
//  5. Received messages reach Handler.Process; the node steps them into raft.
//     Handler.ReportUnreachable(id) is called when the stream to id breaks or
//     a connect attempt fails, so raft probes that follower.
//  6. Stop closes every stream and waits for the goroutines; Handler methods
//     are not called after it returns. Stop leaves the gRPC server running.
//
// # Sending
//
// Each peer has ONE outgoing stream, a bounded queue (QueueSize, default 4096)
// and a goroutine that owns both. Send drops (and counts) a message when the
// queue is full, the peer is unknown, or a fault rule says so; raft
// retransmits what it needs. A down peer therefore costs its own queue and
// nothing else: it never blocks Send or another peer.
//
// Per peer, messages are written IN THE ORDER OF Send calls. The sender
// takes a message off the queue and, without waiting, every message queued
// behind it (up to 256), and writes them as ONE batch frame (see Wire
// format): a leader's Ready holds one MsgApp per proposal per follower, and
// a gRPC message per raft message cost a SendMsg, an HTTP/2 data frame and a
// RecvMsg each. A batch never waits for more messages, so it adds no
// latency. Queued messages survive a reconnect. Messages in flight when a
// stream breaks may be lost. Messages whose encoded envelope exceeds
// MaxMsgBytes (default 10 MiB + 512 KiB slack) are never sent; they are
// logged and counted as Oversize.
//
// A broken stream is redialled with exponential backoff from 50ms to 2s, each
// wait drawn from [d/2, d]. UpdatePeer redials at once. A connect and its
// handshake must finish within DialTimeout (default 1s).
//
// Snapshots (MsgSnap) never use the message stream: the node calls
// SendSnapshot, which opens a stream of its own per snapshot
// (kvtrace.transport.Snapshot/Send, snapshot.go) and streams the leader's
// database in chunks followed by its sha256. The receiver (a Handler that
// implements SnapshotHandler) makes the verified database durable BEFORE
// the MsgSnap reaches Process. A joining member asks a peer for the
// cluster's ID and members on kvtrace.transport.Cluster/Info
// (cluster_info.go).
//
// # Receiving
//
// The service kvtrace.transport.Raft has one bidirectional method, Stream.
// The dialer's first frame is a handshake; the acceptor checks it and answers
// with its own handshake, or ends the stream with:
//
//	FailedPrecondition  cluster ID differs, or the stream is addressed to another member
//	PermissionDenied    the sender is removed (Handler.IsIDRemoved) or not a known peer
//	Unavailable         the transport is stopping
//
// After the handshake only the dialer sends. The envelopes of each frame are
// handed to Handler.Process from the stream's goroutine, IN ORDER, one at a
// time per sending member; a newer stream from the same member supersedes the older
// (which ends with Aborted and delivers nothing more). Process errors are
// logged and the stream continues. Envelopes whose raft To is not this member
// are dropped.
//
// # Faults
//
// SetFaults installs FaultRules that drop, blackhole or delay this member's
// OUTGOING messages, matched by from, to and type; the first matching rule
// applies. They are applied in Send. A delayed message holds back the ones
// queued behind it for the same peer, like a slow link: delay never reorders.
//
// # Wire format
//
// No .proto file: the service is a hand-written grpc.ServiceDesc, and frames
// use the gRPC codec registered as "kvtrace-raft" (content-type
// application/grpc+kvtrace-raft). Each gRPC message is one frame.
// MaxMsgBytes bounds every frame.
//
// Handshake frame (first frame in each direction):
//
//	"kvtr" | version byte (2) | uvarint(from) | uvarint(to) | uvarint(cluster ID)
//
// Dialer to acceptor: from = dialer, to = the member it means to reach. The
// acceptor's reply: from = acceptor, to = dialer; the dialer checks that it
// reached the member and cluster it expected.
//
// Version 1 sent one envelope frame per raft message; version 2 sends batch
// frames. A member refuses a handshake of another version.
//
// Batch frame (every later frame from the dialer on the message stream):
//
//	record+    record = uvarint(len(envelope)) | envelope
//
// at least one record, envelopes IN QUEUE ORDER, the last record ending
// exactly at the end of the frame. Each envelope is:
//
//	uvarint(len(meta)) | meta | proto(raftpb.Message)
//
// meta is opaque to the transport (the tracing layer puts W3C trace context
// there); the message is the protobuf encoding of raftpb.Message and runs to
// the end of its record. The MsgSnap frame of a snapshot stream
// (snapshot.go) is a single envelope, not a batch. The fuzz targets
// FuzzDecodeBatch, FuzzDecodeEnvelope and FuzzDecodeHello (seeds under
// testdata/fuzz) check that the decoders never panic and that what they
// accept re-encodes to the same envelopes.
package transport
