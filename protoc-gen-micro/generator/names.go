package generator

import (
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/protobuf/compiler/protogen"
)

// service holds the Go names generated for one service.
type service struct {
	*protogen.Service
	handlerName string // the "Type" of its endpoints "Type.Method"

	client         string // client interface: SayService
	newClient      string // its constructor: NewSayService
	clientImpl     string // sayService
	handler        string // handler interface: SayHandler
	register       string // RegisterSayHandler
	handlerImpl    string // sayHandler
	handlerOptions string // sayHandlerOptions
	endpoints      string // SayEndpoints

	methods []*method
}

// method holds the Go names generated for one RPC.
type method struct {
	*protogen.Method
	endpoint string // "Say.Hello"

	// Stream types; empty for a unary RPC. They are go-micro's names, which
	// keep clear of protoc-gen-go-grpc's (Say_StreamClient,
	// Say_StreamServer, sayStreamClient, ...), so that both plugins may
	// write into one Go package.
	clientStream     string // Say_StreamService
	clientStreamImpl string // sayStreamClientStream
	serverStream     string // Say_StreamStream
	serverStreamImpl string // sayStreamServerStream
}

// Stream kinds, as server.StreamTypes takes them.
const (
	kindUnary         = ""
	kindServer        = "StreamServer"
	kindClient        = "StreamClient"
	kindBidirectional = "StreamBidirectional"
)

func (m *method) kind() string {
	switch c, s := m.Desc.IsStreamingClient(), m.Desc.IsStreamingServer(); {
	case c && s:
		return kindBidirectional
	case c:
		return kindClient
	case s:
		return kindServer
	}
	return kindUnary
}

// plan names what is generated for every service of every file, Go
// package by Go package. The identifiers protoc-gen-go declares for the
// package's files are taken first; a name of ours that meets one of them,
// or one of ours from an earlier service, gets underscores appended until
// it is free, with a warning for the files being generated. Files are
// taken in the request's order (dependencies first), so the names do not
// depend on which of a package's files are generated in one run, as long
// as the conflicting ones are in the request.
func plan(gen *protogen.Plugin, log *slog.Logger) (map[*protogen.File][]*service, error) {
	taken := make(map[protogen.GoImportPath]map[string]bool)
	for _, f := range gen.Files {
		t := taken[f.GoImportPath]
		if t == nil {
			t = make(map[string]bool)
			taken[f.GoImportPath] = t
		}
		reserveFile(t, f)
	}
	plans := make(map[*protogen.File][]*service)
	for _, f := range gen.Files {
		n := namer{taken: taken[f.GoImportPath], file: f, log: log}
		for _, s := range f.Services {
			if len(s.Methods) == 0 {
				if f.Generate {
					log.Warn("protoc-gen-micro: a service with no methods has nothing to serve or call: nothing is generated for it",
						"file", f.Desc.Path(), "service", string(s.Desc.FullName()))
				}
				continue
			}
			sv, err := n.service(s)
			if err != nil {
				return nil, err
			}
			plans[f] = append(plans[f], sv)
		}
	}
	return plans, nil
}

// reserveFile takes the package-level identifiers protoc-gen-go declares
// for f.
func reserveFile(t map[string]bool, f *protogen.File) {
	t[f.GoDescriptorIdent.GoName] = true
	for _, e := range f.Enums {
		reserveEnum(t, e)
	}
	for _, m := range f.Messages {
		reserveMessage(t, m)
	}
	for _, x := range f.Extensions {
		t[x.GoIdent.GoName] = true
	}
}

func reserveEnum(t map[string]bool, e *protogen.Enum) {
	t[e.GoIdent.GoName] = true
	t[e.GoIdent.GoName+"_name"] = true
	t[e.GoIdent.GoName+"_value"] = true
	for _, v := range e.Values {
		t[v.GoIdent.GoName] = true
	}
}

func reserveMessage(t map[string]bool, m *protogen.Message) {
	t[m.GoIdent.GoName] = true
	t[m.GoIdent.GoName+"_builder"] = true // the opaque and hybrid APIs' builder
	for _, o := range m.Oneofs {
		for _, f := range o.Fields {
			t[f.GoIdent.GoName] = true // the oneof wrapper type
		}
	}
	for _, e := range m.Enums {
		reserveEnum(t, e)
	}
	for _, n := range m.Messages {
		reserveMessage(t, n)
	}
	for _, x := range m.Extensions {
		t[x.GoIdent.GoName] = true
	}
}

// namer hands out names in one Go package.
type namer struct {
	taken map[string]bool
	file  *protogen.File
	log   *slog.Logger
}

// name returns want, or want with underscores appended when it is taken,
// and takes it.
func (n namer) name(want string) string {
	got := want
	for n.taken[got] {
		got += "_"
	}
	n.taken[got] = true
	if got != want && n.file.Generate {
		n.log.Warn("protoc-gen-micro: a generated name is taken in the Go package: renamed",
			"file", n.file.Desc.Path(), "want", want, "got", got)
	}
	return got
}

func (n namer) service(s *protogen.Service) (*service, error) {
	byGoName := make(map[string]*protogen.Method, len(s.Methods))
	for _, m := range s.Methods {
		if other := byGoName[m.GoName]; other != nil {
			return nil, fmt.Errorf("%w: service %s in %s: the RPCs %s and %s would both be the Go method %s; rename one",
				ErrNameConflict, s.Desc.FullName(), n.file.Desc.Path(), other.Desc.Name(), m.Desc.Name(), m.GoName)
		}
		byGoName[m.GoName] = m
	}
	name := s.GoName
	low := unexport(name)
	sv := &service{
		Service:        s,
		handlerName:    name,
		client:         n.name(name + "Service"),
		newClient:      n.name("New" + name + "Service"),
		clientImpl:     n.name(low + "Service"),
		handler:        n.name(name + "Handler"),
		register:       n.name("Register" + name + "Handler"),
		handlerImpl:    n.name(low + "Handler"),
		handlerOptions: n.name(low + "HandlerOptions"),
		endpoints:      n.name(name + "Endpoints"),
	}
	for _, m := range s.Methods {
		mt := &method{Method: m, endpoint: name + "." + m.GoName}
		if mt.kind() != kindUnary {
			mt.clientStream = n.name(name + "_" + m.GoName + "Service")
			mt.clientStreamImpl = n.name(low + m.GoName + "ClientStream")
			mt.serverStream = n.name(name + "_" + m.GoName + "Stream")
			mt.serverStreamImpl = n.name(low + m.GoName + "ServerStream")
		}
		sv.methods = append(sv.methods, mt)
	}
	return sv, nil
}

// unexport lower-cases the first letter of a Go name.
func unexport(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
