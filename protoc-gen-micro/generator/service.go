package generator

import (
	"strconv"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/descriptorpb"
)

func serviceDeprecated(s *service) bool {
	o, _ := s.Desc.Options().(*descriptorpb.ServiceOptions)
	return o.GetDeprecated()
}

func methodDeprecated(m *method) bool {
	o, _ := m.Desc.Options().(*descriptorpb.MethodOptions)
	return o.GetDeprecated()
}

// genClient writes the client interface of s, its implementation and
// constructor, and the client's stream types.
func (w *file) genClient(s *service) {
	l := w.l
	ctx := contextPackage.Ident("Context")
	full := string(s.Desc.FullName())

	w.wrapped(s.client + " is the client of the " + full + " service, one method per RPC; " + s.newClient + " builds it.")
	if c := s.Comments.Leading; c != "" {
		w.P("//")
		w.comment(string(c))
	}
	w.deprecated(serviceDeprecated(s))
	w.P("type ", s.client, " interface {")
	for i, m := range s.methods {
		if i > 0 {
			w.P()
		}
		w.leading(m.Comments.Leading, clientDoc(m))
		w.deprecated(methodDeprecated(m))
		w.P(m.GoName, w.clientSignature(m))
	}
	w.P("}")
	w.P()

	w.P("type ", s.clientImpl, " struct {")
	w.P("c ", clientPackage.Ident("Client"))
	w.P("name string")
	w.P("}")
	w.P()
	w.P("var _ ", s.client, " = (*", s.clientImpl, ")(nil)")
	w.P()
	w.wrapped(s.newClient + " returns the client of the " + full + " service that calls the service registered as name (its server.Name) through c.")
	w.deprecated(serviceDeprecated(s))
	w.P("func ", s.newClient, "(", l.name, " string, ", l.c, " ", clientPackage.Ident("Client"), ") ", s.client, " {")
	w.P("return &", s.clientImpl, "{c: ", l.c, ", name: ", l.name, "}")
	w.P("}")
	w.P()

	for _, m := range s.methods {
		endpoint := strconv.Quote(m.endpoint)
		w.P("func (", l.c, " *", s.clientImpl, ") ", m.GoName, w.clientSignature(m), " {")
		switch m.kind() {
		case kindUnary:
			w.P(l.out, " := new(", m.Output.GoIdent, ")")
			w.P("if ", l.err, " := ", l.c, ".c.Call(", l.ctx, ", ", l.c, ".c.NewRequest(", l.c, ".name, ", endpoint, ", ", l.in, "), ", l.out, ", ", l.opts, "...); ", l.err, " != nil {")
			w.P("return nil, ", l.err)
			w.P("}")
			w.P("return ", l.out, ", nil")
		case kindServer:
			w.P(l.req, " := ", l.c, ".c.NewRequest(", l.c, ".name, ", endpoint, ", ", l.in, ", ", clientPackage.Ident("StreamingRequest"), "())")
			w.P(l.stream, ", ", l.err, " := ", l.c, ".c.Stream(", l.ctx, ", ", l.req, ", ", l.opts, "...)")
			w.P("if ", l.err, " != nil {")
			w.P("return nil, ", l.err)
			w.P("}")
			w.P("// io.EOF: the server has ended the stream already, and Recv says how.")
			w.P("if ", l.err, " := ", l.stream, ".Send(", l.in, "); ", l.err, " != nil && ", l.err, " != ", ioPackage.Ident("EOF"), " {")
			w.P("_ = ", l.stream, ".Close()")
			w.P("return nil, ", l.err)
			w.P("}")
			w.P("if ", l.err, " := ", l.stream, ".CloseSend(); ", l.err, " != nil {")
			w.P("_ = ", l.stream, ".Close()")
			w.P("return nil, ", l.err)
			w.P("}")
			w.P("return &", m.clientStreamImpl, "{", l.stream, "}, nil")
		default:
			// The opening message has no body; the typed request only
			// chooses the content type.
			w.P(l.req, " := ", l.c, ".c.NewRequest(", l.c, ".name, ", endpoint, ", new(", m.Input.GoIdent, "), ", clientPackage.Ident("StreamingRequest"), "())")
			w.P(l.stream, ", ", l.err, " := ", l.c, ".c.Stream(", l.ctx, ", ", l.req, ", ", l.opts, "...)")
			w.P("if ", l.err, " != nil {")
			w.P("return nil, ", l.err)
			w.P("}")
			w.P("return &", m.clientStreamImpl, "{", l.stream, "}, nil")
		}
		w.P("}")
		w.P()
	}

	for _, m := range s.methods {
		if m.kind() == kindUnary {
			continue
		}
		w.genClientStream(m, ctx)
	}
}

func clientDoc(m *method) string {
	switch m.kind() {
	case kindServer:
		return m.GoName + " calls " + m.endpoint + ", which streams its responses back."
	case kindClient:
		return m.GoName + " opens " + m.endpoint + ", which reads a stream of requests: Send them, then CloseAndRecv the response."
	case kindBidirectional:
		return m.GoName + " opens " + m.endpoint + ", a stream each way."
	}
	return m.GoName + " calls " + m.endpoint + "."
}

// clientSignature is what follows the method name in the client
// interface.
func (w *file) clientSignature(m *method) string {
	l := w.l
	ctx := l.ctx + " " + w.QualifiedGoIdent(contextPackage.Ident("Context"))
	opts := l.opts + " ..." + w.QualifiedGoIdent(clientPackage.Ident("CallOption"))
	in := l.in + " *" + w.QualifiedGoIdent(m.Input.GoIdent)
	switch m.kind() {
	case kindUnary:
		return "(" + ctx + ", " + in + ", " + opts + ") (*" + w.QualifiedGoIdent(m.Output.GoIdent) + ", error)"
	case kindServer:
		return "(" + ctx + ", " + in + ", " + opts + ") (" + m.clientStream + ", error)"
	}
	return "(" + ctx + ", " + opts + ") (" + m.clientStream + ", error)"
}

// genClientStream writes the client's end of a stream RPC.
func (w *file) genClientStream(m *method, ctx protogen.GoIdent) {
	l := w.l
	kind := m.kind()
	sends := kind == kindClient || kind == kindBidirectional
	recvs := kind == kindServer || kind == kindBidirectional

	switch kind {
	case kindServer:
		w.P("// ", m.clientStream, " is the client's end of a ", m.endpoint, " call: it receives the")
		w.P("// server's ", m.Output.GoIdent.GoName, " messages.")
	case kindClient:
		w.P("// ", m.clientStream, " is the client's end of a ", m.endpoint, " call: it sends")
		w.P("// ", m.Input.GoIdent.GoName, " messages, then receives one ", m.Output.GoIdent.GoName, ".")
	default:
		w.P("// ", m.clientStream, " is the client's end of a ", m.endpoint, " call: it sends")
		w.P("// ", m.Input.GoIdent.GoName, " messages and receives ", m.Output.GoIdent.GoName, " messages, in either order.")
	}
	if kind == kindBidirectional {
		w.P("// Send and Recv may run in two goroutines at once, but not two Sends or two")
		w.P("// Recvs.")
	}
	w.P("type ", m.clientStream, " interface {")
	w.P("// Context is the stream's context; it ends when the stream ends.")
	w.P("Context() ", ctx)
	if sends {
		w.P("// Send sends one message to the server. It returns io.EOF once the")
		if kind == kindClient {
			w.P("// server has ended the stream; CloseAndRecv then says how.")
		} else {
			w.P("// server has ended the stream; Recv then says how.")
		}
		w.P("Send(*", m.Input.GoIdent, ") error")
	}
	if recvs {
		w.P("// Recv receives the server's next message. It returns io.EOF when the")
		w.P("// server ended the stream cleanly, and the server's error (an")
		w.P("// *errors.Error) when it ended with one.")
		w.P("Recv() (*", m.Output.GoIdent, ", error)")
	}
	if kind == kindBidirectional {
		w.P("// CloseSend tells the server no more messages will be sent; Recv goes on")
		w.P("// working.")
		w.P("CloseSend() error")
	}
	if kind == kindClient {
		w.P("// CloseAndRecv tells the server no more messages will be sent, receives")
		w.P("// its response and closes the stream. It returns io.EOF when the server")
		w.P("// ended the stream without a response.")
		w.P("CloseAndRecv() (*", m.Output.GoIdent, ", error)")
	}
	w.P("// Close ends the stream in both directions and releases it; call it")
	w.P("// (deferred) once done. It is idempotent.")
	w.P("Close() error")
	w.P("}")
	w.P()

	w.P("type ", m.clientStreamImpl, " struct {")
	w.P("stream ", clientPackage.Ident("Stream"))
	w.P("}")
	w.P()
	w.P("var _ ", m.clientStream, " = (*", m.clientStreamImpl, ")(nil)")
	w.P()
	w.P("func (", l.x, " *", m.clientStreamImpl, ") Context() ", ctx, " { return ", l.x, ".stream.Context() }")
	w.P()
	if sends {
		w.P("func (", l.x, " *", m.clientStreamImpl, ") Send(", l.m, " *", m.Input.GoIdent, ") error { return ", l.x, ".stream.Send(", l.m, ") }")
		w.P()
	}
	if recvs {
		w.P("func (", l.x, " *", m.clientStreamImpl, ") Recv() (*", m.Output.GoIdent, ", error) {")
		w.P(l.m, " := new(", m.Output.GoIdent, ")")
		w.P("if ", l.err, " := ", l.x, ".stream.Recv(", l.m, "); ", l.err, " != nil {")
		w.P("return nil, ", l.err)
		w.P("}")
		w.P("return ", l.m, ", nil")
		w.P("}")
		w.P()
	}
	if kind == kindBidirectional {
		w.P("func (", l.x, " *", m.clientStreamImpl, ") CloseSend() error { return ", l.x, ".stream.CloseSend() }")
		w.P()
	}
	if kind == kindClient {
		w.P("func (", l.x, " *", m.clientStreamImpl, ") CloseAndRecv() (*", m.Output.GoIdent, ", error) {")
		w.P("defer ", l.x, ".stream.Close()")
		w.P("if ", l.err, " := ", l.x, ".stream.CloseSend(); ", l.err, " != nil {")
		w.P("return nil, ", l.err)
		w.P("}")
		w.P(l.m, " := new(", m.Output.GoIdent, ")")
		w.P("if ", l.err, " := ", l.x, ".stream.Recv(", l.m, "); ", l.err, " != nil {")
		w.P("return nil, ", l.err)
		w.P("}")
		w.P("return ", l.m, ", nil")
		w.P("}")
		w.P()
	}
	w.P("func (", l.x, " *", m.clientStreamImpl, ") Close() error { return ", l.x, ".stream.Close() }")
	w.P()
}

// genServer writes the handler interface of s, its registration, its
// endpoint list, the adapter the server calls, and the server's stream
// types.
func (w *file) genServer(s *service) {
	l := w.l
	ctx := contextPackage.Ident("Context")
	full := string(s.Desc.FullName())
	serverT := serverPackage.Ident("Server")
	option := serverPackage.Ident("HandlerOption")
	serverStream := serverPackage.Ident("Stream")

	w.wrapped(s.handler + " is the server side of the " + full + " service, one method per RPC: implement it and add it to a server with " + s.register + ".")
	if c := s.Comments.Leading; c != "" {
		w.P("//")
		w.comment(string(c))
	}
	w.deprecated(serviceDeprecated(s))
	w.P("type ", s.handler, " interface {")
	for i, m := range s.methods {
		if i > 0 {
			w.P()
		}
		w.leading(m.Comments.Leading, serverDoc(m))
		w.deprecated(methodDeprecated(m))
		w.P(m.GoName, w.handlerSignature(m))
	}
	w.P("}")
	w.P()

	eps := make([]string, len(s.methods))
	for i, m := range s.methods {
		eps[i] = m.endpoint
	}
	w.wrapped(s.register + " adds h to s as the handler " + strconv.Quote(s.handlerName) +
		", whose endpoints are " + list(eps) + ". opts may add endpoint metadata (server.EndpointMetadata); " +
		"the handler's name, and the kind and message types of its streams (server.StreamTypes), " +
		"are set here, after opts. A nil h is the server's invalid-handler error.")
	w.deprecated(serviceDeprecated(s))
	w.P("func ", s.register, "(", l.s, " ", serverT, ", ", l.h, " ", s.handler, ", ", l.opts, " ...", option, ") error {")
	w.P("if ", l.h, " == nil {")
	w.P("return ", l.s, ".Handle(", l.s, ".NewHandler(nil, ", l.opts, "...))")
	w.P("}")
	w.P("return ", l.s, ".Handle(", l.s, ".NewHandler(&", s.handlerImpl, "{", l.h, "}, ", s.handlerOptions, "(", l.opts, ")...))")
	w.P("}")
	w.P()

	w.P("// ", s.handlerOptions, " returns opts followed by the options that name the")
	w.P("// handler and declare its streams.")
	w.P("func ", s.handlerOptions, "(", l.opts, " []", option, ") []", option, " {")
	w.P("return append(", l.opts, "[:len(", l.opts, "):len(", l.opts, ")],")
	w.P(serverPackage.Ident("HandlerName"), "(", strconv.Quote(s.handlerName), "),")
	for _, m := range s.methods {
		if k := m.kind(); k != kindUnary {
			w.P(serverPackage.Ident("StreamTypes"), "(", strconv.Quote(m.endpoint), ", ", serverPackage.Ident(k), ", new(", m.Input.GoIdent, "), new(", m.Output.GoIdent, ")),")
		}
	}
	w.P(")")
	w.P("}")
	w.P()

	w.wrapped(s.endpoints + " returns the endpoints of the " + full + " service as " + s.register +
		" publishes them in the registry, sorted by name: each \"" + s.handlerName + ".Method\" with its request and response shapes, " +
		"and for a stream its kind (\"server\", \"client\" or \"bidirectional\") as its \"stream\" metadata.")
	w.P("func ", s.endpoints, "() []*", serverPackage.Ident("Endpoint"), " {")
	w.P("return ", serverPackage.Ident("NewHandler"), "(&", s.handlerImpl, "{}, ", s.handlerOptions, "(nil)...).Endpoints()")
	w.P("}")
	w.P()

	w.P("// ", s.handlerImpl, " is what the server sees: one method per RPC, of the")
	w.P("// shapes server.NewHandler takes.")
	w.P("type ", s.handlerImpl, " struct {")
	w.P("impl ", s.handler)
	w.P("}")
	w.P()
	for _, m := range s.methods {
		switch m.kind() {
		case kindUnary:
			w.P("func (", l.h, " *", s.handlerImpl, ") ", m.GoName, "(", l.ctx, " ", ctx, ", ", l.in, " *", m.Input.GoIdent, ", ", l.out, " *", m.Output.GoIdent, ") error {")
			w.P("return ", l.h, ".impl.", m.GoName, "(", l.ctx, ", ", l.in, ", ", l.out, ")")
		case kindServer:
			w.P("func (", l.h, " *", s.handlerImpl, ") ", m.GoName, "(", l.ctx, " ", ctx, ", ", l.stream, " ", serverStream, ") error {")
			w.P(l.in, " := new(", m.Input.GoIdent, ")")
			w.P("if ", l.err, " := ", l.stream, ".Recv(", l.in, "); ", l.err, " != nil {")
			w.P("if ", l.err, " == ", ioPackage.Ident("EOF"), " {")
			w.P("return ", errorsPackage.Ident("BadRequest"), "(\"\", ", strconv.Quote(m.endpoint+": the stream carried no request"), ")")
			w.P("}")
			w.P("return ", l.err)
			w.P("}")
			w.P("return ", l.h, ".impl.", m.GoName, "(", l.ctx, ", ", l.in, ", &", m.serverStreamImpl, "{", l.stream, "})")
		default:
			w.P("func (", l.h, " *", s.handlerImpl, ") ", m.GoName, "(", l.ctx, " ", ctx, ", ", l.stream, " ", serverStream, ") error {")
			w.P("return ", l.h, ".impl.", m.GoName, "(", l.ctx, ", &", m.serverStreamImpl, "{", l.stream, "})")
		}
		w.P("}")
		w.P()
	}

	for _, m := range s.methods {
		if m.kind() == kindUnary {
			continue
		}
		w.genServerStream(m, ctx)
	}
}

func serverDoc(m *method) string {
	switch m.kind() {
	case kindServer:
		return m.GoName + " serves " + m.endpoint + ": it answers in with a stream of responses."
	case kindClient:
		return m.GoName + " serves " + m.endpoint + ": it reads the requests until io.EOF, then SendAndCloses the response."
	case kindBidirectional:
		return m.GoName + " serves " + m.endpoint + ", a stream each way."
	}
	return m.GoName + " serves " + m.endpoint + ": it answers in by filling out."
}

// handlerSignature is what follows the method name in the handler
// interface.
func (w *file) handlerSignature(m *method) string {
	l := w.l
	ctx := l.ctx + " " + w.QualifiedGoIdent(contextPackage.Ident("Context"))
	in := l.in + " *" + w.QualifiedGoIdent(m.Input.GoIdent)
	switch m.kind() {
	case kindUnary:
		return "(" + ctx + ", " + in + ", " + l.out + " *" + w.QualifiedGoIdent(m.Output.GoIdent) + ") error"
	case kindServer:
		return "(" + ctx + ", " + in + ", " + l.stream + " " + m.serverStream + ") error"
	}
	return "(" + ctx + ", " + l.stream + " " + m.serverStream + ") error"
}

// genServerStream writes the server's end of a stream RPC.
func (w *file) genServerStream(m *method, ctx protogen.GoIdent) {
	l := w.l
	kind := m.kind()
	sends := kind == kindServer || kind == kindBidirectional
	recvs := kind == kindClient || kind == kindBidirectional

	switch kind {
	case kindServer:
		w.P("// ", m.serverStream, " is the server's end of a ", m.endpoint, " call: it sends")
		w.P("// ", m.Output.GoIdent.GoName, " messages to the client.")
	case kindClient:
		w.P("// ", m.serverStream, " is the server's end of a ", m.endpoint, " call: it receives")
		w.P("// the client's ", m.Input.GoIdent.GoName, " messages, then sends one ", m.Output.GoIdent.GoName, ".")
	default:
		w.P("// ", m.serverStream, " is the server's end of a ", m.endpoint, " call: it receives")
		w.P("// ", m.Input.GoIdent.GoName, " messages and sends ", m.Output.GoIdent.GoName, " messages, in either order.")
	}
	if kind == kindBidirectional {
		w.P("// Send and Recv may run in two goroutines at once, but not two Sends or two")
		w.P("// Recvs.")
	}
	w.P("type ", m.serverStream, " interface {")
	w.P("// Context is the call's context.")
	w.P("Context() ", ctx)
	if sends {
		w.P("// Send sends one message to the client.")
		w.P("Send(*", m.Output.GoIdent, ") error")
	}
	if recvs {
		w.P("// Recv receives the client's next message; io.EOF once the client has")
		w.P("// sent its last.")
		w.P("Recv() (*", m.Input.GoIdent, ", error)")
	}
	if kind == kindClient {
		w.P("// SendAndClose sends the response and ends the stream; an error the")
		w.P("// handler returns after it does not reach the client.")
		w.P("SendAndClose(*", m.Output.GoIdent, ") error")
	} else {
		w.P("// Close ends the stream: the client reads io.EOF after the messages")
		w.P("// sent so far, and an error the handler returns after it does not")
		w.P("// reach the client. Returning from the handler ends the stream too.")
		w.P("Close() error")
	}
	w.P("}")
	w.P()

	w.P("type ", m.serverStreamImpl, " struct {")
	w.P("stream ", serverPackage.Ident("Stream"))
	w.P("}")
	w.P()
	w.P("var _ ", m.serverStream, " = (*", m.serverStreamImpl, ")(nil)")
	w.P()
	w.P("func (", l.x, " *", m.serverStreamImpl, ") Context() ", ctx, " { return ", l.x, ".stream.Context() }")
	w.P()
	if sends {
		w.P("func (", l.x, " *", m.serverStreamImpl, ") Send(", l.m, " *", m.Output.GoIdent, ") error { return ", l.x, ".stream.Send(", l.m, ") }")
		w.P()
	}
	if recvs {
		w.P("func (", l.x, " *", m.serverStreamImpl, ") Recv() (*", m.Input.GoIdent, ", error) {")
		w.P(l.m, " := new(", m.Input.GoIdent, ")")
		w.P("if ", l.err, " := ", l.x, ".stream.Recv(", l.m, "); ", l.err, " != nil {")
		w.P("return nil, ", l.err)
		w.P("}")
		w.P("return ", l.m, ", nil")
		w.P("}")
		w.P()
	}
	if kind == kindClient {
		w.P("func (", l.x, " *", m.serverStreamImpl, ") SendAndClose(", l.m, " *", m.Output.GoIdent, ") error {")
		w.P("if ", l.err, " := ", l.x, ".stream.Send(", l.m, "); ", l.err, " != nil {")
		w.P("return ", l.err)
		w.P("}")
		w.P("return ", l.x, ".stream.Close()")
		w.P("}")
		w.P()
	} else {
		w.P("func (", l.x, " *", m.serverStreamImpl, ") Close() error { return ", l.x, ".stream.Close() }")
		w.P()
	}
}
