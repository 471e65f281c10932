package transport

import (
	"context"
	"crypto/tls"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A member started with --initial-cluster-state existing does not know the
// cluster's ID or its own member ID (MemberAdd chose it). It asks a peer on
// kvtrace.transport.Cluster/Info, as etcd asks its peers' /members endpoint
// (etcd server/etcdserver/cluster_util.go, GetClusterFromRemotePeers).
// Request: one empty raw frame; answer: one raw frame, whatever the
// handler's ClusterInfo returns (the node's JSON).
const (
	clusterServiceName = "kvtrace.transport.Cluster"
	clusterInfoMethod  = "/" + clusterServiceName + "/Info"
)

// RemovedHandler is implemented by a Handler that wants to know when a
// peer refused its stream because this member was removed.
type RemovedHandler interface {
	RemovedByPeer(peer uint64)
}

// ClusterInfoHandler is implemented by a Handler that can describe its
// cluster to a joining member.
type ClusterInfoHandler interface {
	ClusterInfo() []byte
}

type clusterInfoServer interface {
	serveClusterInfo(ss grpc.ServerStream) error
}

var clusterServiceDesc = grpc.ServiceDesc{
	ServiceName: clusterServiceName,
	HandlerType: (*clusterInfoServer)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName: "Info",
		Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(clusterInfoServer).serveClusterInfo(ss)
		},
		ClientStreams: true,
		ServerStreams: true,
	}},
	Metadata: "internal/transport (hand-written, no .proto)",
}

func (t *Transport) serveClusterInfo(ss grpc.ServerStream) error {
	var req rawFrame
	if err := ss.RecvMsg(&req); err != nil {
		return err
	}
	h, ok := t.cfg.Handler.(ClusterInfoHandler)
	if !ok {
		return status.Error(codes.Unimplemented, "transport: no cluster info")
	}
	return ss.SendMsg(&rawFrame{b: h.ClusterInfo()})
}

// FetchClusterInfo asks the member at peerURL for its ClusterInfo; tlsCfg
// dials an https:// URL (DialOptions).
func FetchClusterInfo(ctx context.Context, peerURL string, tlsCfg *tls.Config) ([]byte, error) {
	target, creds, err := DialOptions(peerURL, tlsCfg)
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(target, creds,
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(codecName)))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	cs, err := cc.NewStream(ctx, &clusterServiceDesc.Streams[0], clusterInfoMethod)
	if err != nil {
		return nil, err
	}
	if err := cs.SendMsg(&rawFrame{}); err != nil {
		return nil, err
	}
	if err := cs.CloseSend(); err != nil {
		return nil, err
	}
	var resp rawFrame
	if err := cs.RecvMsg(&resp); err != nil {
		return nil, fmt.Errorf("transport: cluster info from %s: %w", peerURL, err)
	}
	return resp.b, nil
}
