package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"github.com/kvtrace/kvtrace/internal/apply"
)

// kvServer implements etcdserverpb.KVServer.
type kvServer struct {
	pb.UnimplementedKVServer
	s *Server
}

func (k *kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := apply.CheckRangeRequest(r); err != nil {
		return nil, err
	}
	if !r.Serializable {
		if err := k.s.node.LinearizableRead(ctx); err != nil {
			return nil, togRPCError(err)
		}
	}
	resp, err := k.s.applier.Range(r)
	if err != nil {
		return nil, togRPCError(err)
	}
	resp.Header = k.s.header(respRev(resp.Header))
	return resp, nil
}

// RangeStream answers with the same result as Range, in chunks of keys.
func (k *kvServer) RangeStream(r *pb.RangeRequest, stream grpc.ServerStreamingServer[pb.RangeStreamResponse]) error {
	resp, err := k.Range(stream.Context(), r)
	if err != nil {
		return err
	}
	const chunk = 1000
	kvs := resp.Kvs
	for len(kvs) > chunk {
		if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: &pb.RangeResponse{Kvs: kvs[:chunk]}}); err != nil {
			return err
		}
		kvs = kvs[chunk:]
	}
	resp.Kvs = kvs
	return stream.Send(&pb.RangeStreamResponse{RangeResponse: resp})
}

func (k *kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := apply.CheckPutRequest(r); err != nil {
		return nil, err
	}
	m, err := k.s.propose(ctx, &pb.InternalRaftRequest{Put: r})
	if err != nil {
		return nil, err
	}
	resp := m.(*pb.PutResponse)
	resp.Header = k.s.header(respRev(resp.Header))
	return resp, nil
}

func (k *kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := apply.CheckDeleteRequest(r); err != nil {
		return nil, err
	}
	m, err := k.s.propose(ctx, &pb.InternalRaftRequest{DeleteRange: r})
	if err != nil {
		return nil, err
	}
	resp := m.(*pb.DeleteRangeResponse)
	resp.Header = k.s.header(respRev(resp.Header))
	return resp, nil
}

func (k *kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := apply.CheckTxnRequest(r, k.s.limits.MaxTxnOps); err != nil {
		return nil, err
	}
	m, err := k.s.propose(ctx, &pb.InternalRaftRequest{Txn: r})
	if err != nil {
		return nil, err
	}
	resp := m.(*pb.TxnResponse)
	resp.Header = k.s.header(respRev(resp.Header))
	return resp, nil
}

func (k *kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	m, err := k.s.propose(ctx, &pb.InternalRaftRequest{Compaction: r})
	if err != nil {
		return nil, err
	}
	resp := m.(*pb.CompactionResponse)
	resp.Header = k.s.header(respRev(resp.Header))
	return resp, nil
}

func respRev(h *pb.ResponseHeader) int64 {
	if h == nil {
		return 0
	}
	return h.Revision
}
