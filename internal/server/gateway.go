package server

import (
	"context"
	"fmt"
	"math"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
)

// Gateway returns etcd's JSON gateway (/v3/kv/*, /v3/watch, /v3/lease/*,
// /v3/cluster/*, /v3/maintenance/*), translating HTTP/1.1 JSON into calls on
// a loopback gRPC connection to this member's own client address, as etcd
// does (server/embed/serve.go, serveCtx.registerGateway). The JSON follows
// etcd's marshaler settings: proto field names, no zero values, unknown
// fields ignored, bytes as base64, 64-bit integers as strings. close
// releases the loopback connection. opts are added last (kvd passes an
// in-memory dialer when the client port speaks TLS: cmd/kvd/tls.go).
func Gateway(ctx context.Context, grpcAddr string, opts ...grpc.DialOption) (h http.Handler, closeFn func() error, err error) {
	conn, err := grpc.NewClient(grpcAddr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32))}, opts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: loopback connection to %s: %w", grpcAddr, err)
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
			},
		}),
	)
	for _, reg := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		gw.RegisterKVHandler, gw.RegisterWatchHandler, gw.RegisterLeaseHandler,
		gw.RegisterClusterHandler, gw.RegisterMaintenanceHandler,
	} {
		if err := reg(ctx, mux, conn); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("gateway: %w", err)
		}
	}
	return mux, conn.Close, nil
}
