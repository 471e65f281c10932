package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kvtrace/kvtrace/instrument"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTEL_EXPORTER_OTLP_COMPRESSION=gzip on the gRPC side
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// maxRequest bounds one OTLP request on either transport. An exporter batch
// of 512 spans is well under 1 MiB; this matches the loader's line limit.
const maxRequest = 64 << 20

// receiverConfig says where a receiver listens and records.
type receiverConfig struct {
	GRPCAddr string // "" = no gRPC listener
	HTTPAddr string // "" = no HTTP listener
	Out      string // OTLP JSON lines file, appended to (created with its directories)
	// OnBatch, if set, is called after each recorded request, in the order
	// the requests were written, with the receiver's lock held: it MUST NOT
	// block for long or call back into the receiver.
	OnBatch func(b batch)
}

// batch describes one recorded request.
type batch struct {
	Via     string   // "grpc" or "http"
	Spans   int      // spans in the request
	Members []string // service.instance.id of its resources (else service.name), sorted
	Line    int      // its line in the out file
	Req     *coltracepb.ExportTraceServiceRequest
	// Totals since the receiver started, this request included.
	Requests, TotalSpans int
}

func (b batch) String() string {
	return fmt.Sprintf("%s: %d spans from %s (total: %d requests, %d spans)",
		b.Via, b.Spans, strings.Join(b.Members, ","), b.Requests, b.TotalSpans)
}

// receiver is an OTLP trace receiver (gRPC and HTTP) that appends every
// request, as one line of OTLP JSON (instrument.EncodeLine, the format of
// kvd's span files), to one file.
type receiver struct {
	coltracepb.UnimplementedTraceServiceServer

	cfg      receiverConfig
	grpcLn   net.Listener // nil when off
	httpLn   net.Listener // nil when off
	grpcSrv  *grpc.Server
	httpSrv  *http.Server
	serveErr chan error // a listener that stopped serving, or a write that failed

	// mu guards f, line, requests and spans, and serialises record so that
	// lines, line numbers and OnBatch calls are in one order.
	mu       sync.Mutex
	f        *os.File // nil after close
	line     int      // lines in the file so far
	requests int
	spans    int
}

// startReceiver opens the out file, binds both listeners and starts serving.
// Addresses may use port 0; GRPCAddr/HTTPAddr report the bound ones.
func startReceiver(cfg receiverConfig) (*receiver, error) {
	if cfg.GRPCAddr == "" && cfg.HTTPAddr == "" {
		return nil, errors.New("neither a gRPC nor an HTTP address to listen on")
	}
	r := &receiver{cfg: cfg, serveErr: make(chan error, 4)}
	if err := r.open(); err != nil {
		return nil, err
	}
	var err error
	if cfg.GRPCAddr != "" {
		if r.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			r.closeFile()
			return nil, fmt.Errorf("OTLP/gRPC listener: %w", err)
		}
	}
	if cfg.HTTPAddr != "" {
		if r.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			if r.grpcLn != nil {
				r.grpcLn.Close()
			}
			r.closeFile()
			return nil, fmt.Errorf("OTLP/HTTP listener: %w", err)
		}
	}
	if r.grpcLn != nil {
		r.grpcSrv = grpc.NewServer(grpc.MaxRecvMsgSize(maxRequest))
		coltracepb.RegisterTraceServiceServer(r.grpcSrv, r)
		go func() {
			if err := r.grpcSrv.Serve(r.grpcLn); err != nil {
				r.serveErr <- fmt.Errorf("OTLP/gRPC: %w", err)
			}
		}()
	}
	if r.httpLn != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("/v1/traces", r.serveHTTP)
		r.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := r.httpSrv.Serve(r.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.serveErr <- fmt.Errorf("OTLP/HTTP: %w", err)
			}
		}()
	}
	return r, nil
}

// open opens the out file for appending and counts the lines already in it,
// so that a batch's Line is its line in the file.
func (r *receiver) open() error {
	if err := os.MkdirAll(filepath.Dir(r.cfg.Out), 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	f, err := os.OpenFile(r.cfg.Out, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, err := f.Read(buf)
		r.line += bytes.Count(buf[:n], []byte{'\n'})
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("--out: %w", err)
		}
	}
	r.f = f
	return nil
}

// GRPCAddr is the bound gRPC address ("" when off).
func (r *receiver) GRPCAddr() string {
	if r.grpcLn == nil {
		return ""
	}
	return r.grpcLn.Addr().String()
}

// HTTPAddr is the bound HTTP address ("" when off).
func (r *receiver) HTTPAddr() string {
	if r.httpLn == nil {
		return ""
	}
	return r.httpLn.Addr().String()
}

// Err delivers the first fatal error: a listener that stopped serving or a
// write to the out file that failed.
func (r *receiver) Err() <-chan error { return r.serveErr }

// Export is the OTLP/gRPC TraceService method.
func (r *receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	if err := r.record("grpc", req); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// serveHTTP is POST /v1/traces (OTLP/HTTP): the body is an
// ExportTraceServiceRequest in binary protobuf or in OTLP JSON, per its
// Content-Type, optionally gzip-compressed; the response is an
// ExportTraceServiceResponse (or, on failure, a google.rpc.Status) in the
// same encoding.
func (r *receiver) serveHTTP(w http.ResponseWriter, hr *http.Request) {
	if hr.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "OTLP/HTTP: POST only", http.StatusMethodNotAllowed)
		return
	}
	ct, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type"))
	isJSON := ct == "application/json"
	if !isJSON && ct != "application/x-protobuf" {
		http.Error(w, "OTLP/HTTP: Content-Type must be application/x-protobuf or application/json", http.StatusUnsupportedMediaType)
		return
	}
	fail := func(code int, c codes.Code, msg string) {
		st := status.New(c, msg).Proto()
		var body []byte
		if isJSON {
			body, _ = protojson.Marshal(st)
		} else {
			body, _ = proto.Marshal(st)
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(code)
		w.Write(body) //nolint:errcheck // the client went away
	}
	var body io.Reader = http.MaxBytesReader(w, hr.Body, maxRequest)
	switch enc := hr.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			fail(http.StatusBadRequest, codes.InvalidArgument, "gzip body: "+err.Error())
			return
		}
		body = io.LimitReader(zr, maxRequest+1)
	default:
		fail(http.StatusUnsupportedMediaType, codes.InvalidArgument, "unsupported Content-Encoding "+enc)
		return
	}
	data, err := io.ReadAll(body)
	switch {
	case err != nil:
		fail(http.StatusBadRequest, codes.InvalidArgument, "reading body: "+err.Error())
		return
	case len(data) > maxRequest:
		fail(http.StatusRequestEntityTooLarge, codes.InvalidArgument, fmt.Sprintf("request larger than %d bytes", maxRequest))
		return
	}
	var req *coltracepb.ExportTraceServiceRequest
	if isJSON {
		// DecodeLine reads ids in hex (OTLP JSON) or base64 and enums as
		// numbers or names.
		req, err = instrument.DecodeLine(data)
	} else {
		req = &coltracepb.ExportTraceServiceRequest{}
		err = proto.Unmarshal(data, req)
	}
	if err != nil {
		fail(http.StatusBadRequest, codes.InvalidArgument, "not an ExportTraceServiceRequest: "+err.Error())
		return
	}
	if err := r.record("http", req); err != nil {
		fail(http.StatusServiceUnavailable, codes.Unavailable, err.Error())
		return
	}
	var out []byte
	if isJSON {
		out, _ = protojson.Marshal(&coltracepb.ExportTraceServiceResponse{})
	} else {
		out, _ = proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	}
	w.Header().Set("Content-Type", ct)
	w.Write(out) //nolint:errcheck // the client went away
}

// record appends req to the out file as ONE line written with ONE write(2)
// on a file opened O_APPEND (no user-space buffer: every request is in the
// file when the exporter gets its answer), then reports the batch. A request
// without spans is answered but not written. A failed write is returned to
// the exporter AND ends the receiver through Err: a recorder that cannot
// record must not keep answering as if it did.
func (r *receiver) record(via string, req *coltracepb.ExportTraceServiceRequest) error {
	n := 0
	members := map[string]bool{}
	for _, rs := range req.GetResourceSpans() {
		k := 0
		for _, ss := range rs.GetScopeSpans() {
			k += len(ss.GetSpans())
		}
		if k == 0 {
			continue
		}
		n += k
		name, service := "", ""
		for _, kv := range rs.GetResource().GetAttributes() {
			switch kv.GetKey() {
			case "service.instance.id":
				name = kv.GetValue().GetStringValue()
			case "service.name":
				service = kv.GetValue().GetStringValue()
			}
		}
		switch {
		case name != "":
			members[name] = true
		case service != "":
			members[service] = true
		default:
			members["?"] = true
		}
	}
	if n == 0 {
		return nil
	}
	line, err := instrument.EncodeLine(req)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return errors.New("receiver is shutting down")
	}
	if _, err := r.f.Write(line); err != nil {
		err = fmt.Errorf("write %s: %w", r.f.Name(), err)
		select {
		case r.serveErr <- err:
		default:
		}
		return err
	}
	r.line++
	r.requests++
	r.spans += n
	b := batch{Via: via, Spans: n, Line: r.line, Req: req, Requests: r.requests, TotalSpans: r.spans}
	for m := range members {
		b.Members = append(b.Members, m)
	}
	sort.Strings(b.Members)
	if r.cfg.OnBatch != nil {
		r.cfg.OnBatch(b)
	}
	return nil
}

// Totals returns the requests and spans recorded so far.
func (r *receiver) Totals() (requests, spans int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.spans
}

// Close stops both listeners, letting requests in flight finish (up to
// ctx), then fsyncs and closes the out file. Its error is the file's.
func (r *receiver) Close(ctx context.Context) error {
	var wg sync.WaitGroup
	if r.grpcSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() { r.grpcSrv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				r.grpcSrv.Stop()
			}
		}()
	}
	if r.httpSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.httpSrv.Shutdown(ctx) != nil {
				r.httpSrv.Close()
			}
		}()
	}
	wg.Wait()
	return r.closeFile()
}

func (r *receiver) closeFile() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	f := r.f
	r.f = nil
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("closing %s: %w", f.Name(), err)
	}
	return nil
}
