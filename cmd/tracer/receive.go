package main

import "fmt"

const receiveHelp = `Runs an OTLP trace receiver and appends every request it gets, as one OTLP
JSON line, to --out (replayable with any tracer command). Loopback only by
default. NOT IMPLEMENTED YET: point kvd at files (kvd --trace) meanwhile.`

// runReceive is the place for the live receiver (issue 4): OTLP/HTTP
// (JSON and protobuf, POST /v1/traces) on 4318 with net/http, OTLP/gRPC on
// 4317 through collector/trace/v1.TraceServiceServer, both recording through
// fixturegen-style MarshalLine into a file and feeding a traceview.Builder.
func runReceive(args []string, e env) error {
	fs := newFlags("receive", "receive [--grpc ADDR] [--http ADDR] --out FILE", receiveHelp, e)
	fs.String("grpc", "127.0.0.1:4317", "OTLP/gRPC listen address")
	fs.String("http", "127.0.0.1:4318", "OTLP/HTTP listen address")
	fs.String("out", "spans.jsonl", "file to append received spans to")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	return fmt.Errorf("receive: not implemented yet")
}
