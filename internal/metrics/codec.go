package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	// Registers the "proto" codec that ClientCodec wraps.
	_ "google.golang.org/grpc/encoding/proto"
)

// Client gRPC traffic (etcd server/etcdserver/api/v3rpc/metrics.go),
// counted by ClientCodec as etcd's v3rpc codec counts it: the encoded
// message bytes, before gRPC framing.
var (
	clientGRPCSent = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "network", Name: "client_grpc_sent_bytes_total",
		Help: "The total number of bytes sent to grpc clients.",
	})
	clientGRPCReceived = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "network", Name: "client_grpc_received_bytes_total",
		Help: "The total number of bytes received from grpc clients.",
	})
)

// ClientCodec returns the client gRPC server's codec: gRPC's protobuf codec,
// counting the bytes it encodes and decodes. Registers its counters on the
// first call.
func ClientCodec() encoding.CodecV2 {
	clientCodecOnce.Do(func() { MustRegister(clientGRPCSent, clientGRPCReceived) })
	return countingCodec{inner: encoding.GetCodecV2("proto")}
}

var clientCodecOnce sync.Once

type countingCodec struct{ inner encoding.CodecV2 }

func (c countingCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := c.inner.Marshal(v)
	clientGRPCSent.Add(float64(b.Len()))
	return b, err
}

func (c countingCodec) Unmarshal(data mem.BufferSlice, v any) error {
	clientGRPCReceived.Add(float64(data.Len()))
	return c.inner.Unmarshal(data, v)
}

func (c countingCodec) Name() string { return c.inner.Name() }
