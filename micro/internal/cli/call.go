package cli

import (
	"context"
	stdjson "encoding/json"
	stderrors "errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/codec/json"
	"github.com/openmicro/go-micro/metadata"
	microregistry "github.com/openmicro/go-micro/registry/micro"
)

// probeTimeout bounds the look at the registry after a publish failed.
const probeTimeout = 3 * time.Second

// callFlags are the flags of call and stream.
func callFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.GenericFlag{
			Name:    "metadata",
			Aliases: []string{"m"},
			Usage:   "metadata to send as key=value; repeat the flag for more",
			Value:   &metadataFlag{},
		},
		&ucli.StringFlag{
			Name:  "address",
			Usage: "call this node, host:port, instead of one the registry lists",
		},
		outputFlag(),
	}
}

// callCommand is `micro call SERVICE ENDPOINT [JSON]`.
func callCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:    "call",
		Aliases: []string{"query"},
		Usage:   "call an endpoint of a service with a JSON request and print the JSON response",
		Description: "The request is sent with the JSON codec, so any service answers, whatever its handlers' types.\n" +
			"   Without JSON the request is {}; with - it is read from stdin. For example\n\n" +
			`   micro call greeter Say.Hello '{"name": "Ann"}'`,
		ArgsUsage: "SERVICE ENDPOINT [JSON]",
		Flags:     callFlags(),
		Action: func(c *ucli.Context) error {
			args, err := rangeArgs(c, 2, "SERVICE", "ENDPOINT", "JSON")
			if err != nil {
				return err
			}
			body, err := jsonBody(o, args, 2)
			if err != nil {
				return err
			}
			e := newEnv(c, o, slog.LevelError)
			defer e.close()
			return call(e, args[0], args[1], body)
		},
	}
}

// target prepares a call to service: the context with the metadata, and
// the call options for --address. Without --address it checks that the
// registry knows the service, so that an unknown service or an unreachable
// registry get their own messages.
func target(e *env, service string) (context.Context, []client.CallOption, error) {
	ctx := e.ctx()
	if md, ok := e.c.Generic("metadata").(*metadataFlag); ok && len(md.pairs) > 0 {
		ctx = metadata.NewContext(ctx, metadata.New(md.pairs))
	}
	if addr := e.c.String("address"); addr != "" {
		return ctx, []client.CallOption{client.WithAddress(addr)}, nil
	}
	if _, err := e.getService(service); err != nil {
		return nil, nil, err
	}
	return ctx, nil, nil
}

func call(e *env, service, endpoint string, body []byte) error {
	c, err := e.newClient()
	if err != nil {
		return err
	}
	ctx, opts, err := target(e, service)
	if err != nil {
		return err
	}
	var rsp stdjson.RawMessage
	req := c.NewRequest(service, endpoint, stdjson.RawMessage(body), client.WithContentType(json.ContentType))
	if err := c.Call(ctx, req, &rsp, opts...); err != nil {
		if isCanceled(e.ctx(), err) {
			return interrupted()
		}
		return failure("call %s %s: %s", service, endpoint, describe(err))
	}
	if jsonOutput(e.c) {
		_, err = fmt.Fprintf(e.stdout, "%s\n", compactJSON(rsp))
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", indentJSON(rsp))
	return err
}

// streamCommand is `micro stream SERVICE ENDPOINT [JSON]`.
func streamCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "stream",
		Usage: "open a stream to an endpoint, send the JSON request and print each message as it arrives",
		Description: "The request is sent as the stream's first message (without JSON, {}; with -, read\n" +
			"   from stdin), and the sending side is then closed. Each message is printed as JSON on\n" +
			"   a line of its own until the service ends the stream; Ctrl-C ends it sooner. For example\n\n" +
			`   micro stream greeter Say.Stream '{"name": "Ann", "count": 3}'`,
		ArgsUsage: "SERVICE ENDPOINT [JSON]",
		Flags:     callFlags(),
		Action: func(c *ucli.Context) error {
			args, err := rangeArgs(c, 2, "SERVICE", "ENDPOINT", "JSON")
			if err != nil {
				return err
			}
			body, err := jsonBody(o, args, 2)
			if err != nil {
				return err
			}
			e := newEnv(c, o, slog.LevelError)
			defer e.close()
			return stream(e, args[0], args[1], body)
		},
	}
}

func stream(e *env, service, endpoint string, body []byte) error {
	c, err := e.newClient()
	if err != nil {
		return err
	}
	ctx, opts, err := target(e, service)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		if isCanceled(e.ctx(), err) {
			return interrupted()
		}
		return failure("stream %s %s: %s", service, endpoint, describe(err))
	}
	req := c.NewRequest(service, endpoint, nil, client.WithContentType(json.ContentType), client.StreamingRequest())
	st, err := c.Stream(ctx, req, opts...)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	if err := st.Send(stdjson.RawMessage(body)); err != nil && err != io.EOF {
		return fail(err)
	}
	if err := st.CloseSend(); err != nil && err != io.EOF {
		return fail(err)
	}
	for {
		var msg stdjson.RawMessage
		err := st.Recv(&msg)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fail(err)
		}
		if _, err := fmt.Fprintf(e.stdout, "%s\n", compactJSON(msg)); err != nil {
			return err
		}
	}
}

// publishCommand is `micro publish TOPIC JSON`.
func publishCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "publish",
		Usage: "publish a JSON event on a topic of the broker",
		Description: "The event reaches the topic's subscribers through the broker the global flags name\n" +
			"   (the http broker, peer to peer through the registry, by default). JSON - reads the\n" +
			"   event from stdin. For example\n\n" +
			`   micro publish greeter.events '{"name": "Ann", "message": "hi"}'`,
		ArgsUsage: "TOPIC JSON",
		Flags: []ucli.Flag{&ucli.GenericFlag{
			Name:    "metadata",
			Aliases: []string{"m"},
			Usage:   "metadata to send as key=value; repeat the flag for more",
			Value:   &metadataFlag{},
		}},
		Action: func(c *ucli.Context) error {
			args, err := exactArgs(c, "TOPIC", "JSON")
			if err != nil {
				return err
			}
			body, err := jsonBody(o, args, 1)
			if err != nil {
				return err
			}
			e := newEnv(c, o, slog.LevelError)
			defer e.close()
			return publish(e, args[0], body)
		},
	}
}

func publish(e *env, topic string, body []byte) error {
	c, err := e.newClient()
	if err != nil {
		return err
	}
	ctx := e.ctx()
	if md, ok := e.c.Generic("metadata").(*metadataFlag); ok && len(md.pairs) > 0 {
		ctx = metadata.NewContext(ctx, metadata.New(md.pairs))
	}
	b := e.comps.Broker
	if err := b.Connect(ctx); err != nil {
		if isCanceled(ctx, err) {
			return interrupted()
		}
		return failure("connecting the %s broker: %v", b.String(), err)
	}
	msg := c.NewMessage(topic, stdjson.RawMessage(body), client.WithMessageContentType(json.ContentType))
	if err := c.Publish(ctx, msg); err != nil {
		if isCanceled(ctx, err) {
			return interrupted()
		}
		// Say so when the registry, which the broker finds the
		// subscribers through, is what failed: the error says it, or a
		// look at the registry shows it (bounded, as the publish already
		// took its time).
		if stderrors.Is(err, microregistry.ErrUnreachable) {
			return e.registryError(err)
		}
		if reg, rerr := e.registry(); rerr == nil {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			_, lerr := reg.ListServices(pctx)
			cancel()
			if lerr != nil {
				return e.registryError(lerr)
			}
		}
		return failure("publish to %s: %s", topic, describe(err))
	}
	_, err = fmt.Fprintf(e.stdout, "published to %s\n", topic)
	return err
}
