package generator

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// Version is the version of protoc-gen-micro, written into the header of
// every generated file.
const Version = "v0.1.0"

var (
	// ErrUnknownParameter is wrapped by the error for a parameter
	// (--micro_opt) that protoc-gen-micro does not take.
	ErrUnknownParameter = errors.New("generator: unknown parameter")
	// ErrNameConflict is wrapped by the error for two RPCs of a service
	// that would become the same Go method.
	ErrNameConflict = errors.New("generator: name conflict")
	// ErrInvalidRequest is wrapped by the error for a request whose files
	// cannot be read as .proto descriptors (protogen's error follows).
	ErrInvalidRequest = errors.New("generator: invalid request")

	// errPanicked is wrapped, with ErrInvalidRequest, by the error for a
	// request that made protogen panic; the fuzz test looks for it.
	errPanicked = errors.New("the request made the generator panic")
)

// Option configures Generate.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// Logger sets where Generate writes its warnings: a generated name changed
// to keep clear of another name in the Go package, a service with no
// methods skipped. The default is slog.Default(); protoc-gen-micro's main
// logs to stderr, which protoc shows.
func Logger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Generate runs the generator on a request from protoc and returns the
// response to send back: one <name>.pb.micro.go for every file to
// generate that declares at least one service with methods, and nothing
// for the others (a request naming no file gets an empty response, as
// from protoc-gen-go).
//
// The parameters it takes are protogen's: paths=import|source_relative,
// module=PREFIX, M<file>=<import path>[;<package name>], annotate_code and
// default_api_level (which only concerns the message code). Any other is
// an error wrapping [ErrUnknownParameter]. A request whose descriptors do
// not hold together wraps [ErrInvalidRequest]. Generate does not panic on
// any request.
func Generate(req *pluginpb.CodeGeneratorRequest, opts ...Option) (rsp *pluginpb.CodeGeneratorResponse, err error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if req == nil {
		req = new(pluginpb.CodeGeneratorRequest)
	}
	// protogen and protodesc check what they are given, but they were not
	// written for hostile input: a panic deep inside them is the request's
	// fault and is reported as such rather than crashing protoc's run.
	defer func() {
		if p := recover(); p != nil {
			o.logger.Debug("generator: recovered", "panic", p, "stack", string(debug.Stack()))
			rsp, err = nil, fmt.Errorf("%w: %w: %v", ErrInvalidRequest, errPanicked, p)
		}
	}()
	gen, err := protogen.Options{ParamFunc: unknownParameter}.New(req)
	if err != nil {
		if errors.Is(err, ErrUnknownParameter) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	gen.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL |
		pluginpb.CodeGeneratorResponse_FEATURE_SUPPORTS_EDITIONS)
	gen.SupportedEditionsMinimum = descriptorpb.Edition_EDITION_PROTO2
	gen.SupportedEditionsMaximum = descriptorpb.Edition_EDITION_2024
	if err := generate(gen, o.logger); err != nil {
		return nil, err
	}
	rsp = gen.Response()
	if rsp.Error != nil {
		// protogen could not format a file it was given: a bug here.
		return nil, fmt.Errorf("generator: %s", rsp.GetError())
	}
	return rsp, nil
}

func unknownParameter(name, value string) error {
	return fmt.Errorf("%w %q: protoc-gen-micro takes paths=import|source_relative, module=PREFIX, M<file>=<import path> and annotate_code",
		ErrUnknownParameter, name)
}

// generate writes a .pb.micro.go for every file to generate that has a
// service with methods.
func generate(gen *protogen.Plugin, log *slog.Logger) error {
	plans, err := plan(gen, log)
	if err != nil {
		return err
	}
	for _, f := range gen.Files {
		if !f.Generate || len(plans[f]) == 0 {
			continue
		}
		genFile(gen, f, plans[f])
	}
	return nil
}
