package transport

import (
	"fmt"

	"google.golang.org/grpc/encoding"
)

// codecName is the gRPC content-subtype of the peer stream
// ("application/grpc+kvtrace-raft"). Both sides look the codec up by this name,
// so the member's peer gRPC server needs no codec option of its own.
const codecName = "kvtrace-raft"

func init() { encoding.RegisterCodec(frameCodec{}) }

// frameCodec moves the transport's own frames through gRPC without protoc:
// *hello, *envelopeBatch (message stream) and *Envelope (the MsgSnap of a
// snapshot stream) in both directions, and *rawFrame for frames the sender
// has already encoded (to check the size cap and count bytes).
type frameCodec struct{}

// rawFrame is an envelope frame that was encoded before SendMsg.
type rawFrame struct{ b []byte }

func (frameCodec) Name() string { return codecName }

func (frameCodec) Marshal(v any) ([]byte, error) {
	switch f := v.(type) {
	case *rawFrame:
		return f.b, nil
	case *hello:
		return f.marshal(), nil
	case *Envelope:
		return encodeEnvelope(*f)
	case *envelopeBatch:
		return encodeBatch(f.envs)
	default:
		return nil, fmt.Errorf("transport codec: cannot marshal %T", v)
	}
}

func (frameCodec) Unmarshal(data []byte, v any) error {
	switch f := v.(type) {
	case *hello:
		return f.unmarshal(data)
	case *rawFrame:
		f.b = append(f.b[:0], data...) // gRPC may recycle data
		return nil
	case *Envelope:
		env, err := decodeEnvelope(data)
		if err != nil {
			return err
		}
		*f = env
		return nil
	case *envelopeBatch:
		envs, err := decodeBatch(data, f.envs[:0])
		f.envs, f.size = envs, len(data)
		return err
	default:
		return fmt.Errorf("transport codec: cannot unmarshal into %T", v)
	}
}
