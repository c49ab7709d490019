package cli

import (
	"bytes"
	"cmp"
	stdjson "encoding/json"
	stderrors "errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	ucli "github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/registry"
)

// listCommand is `micro list services`.
func listCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "list",
		Usage: "list what the registry holds",
		Subcommands: []*ucli.Command{{
			Name:      "services",
			Usage:     "list the registered services, one line per name and version",
			ArgsUsage: " ",
			Flags:     []ucli.Flag{outputFlag()},
			Action: func(c *ucli.Context) error {
				if c.Args().Present() {
					return usage(c, "unexpected argument %q", c.Args().First())
				}
				e := newEnv(c, o, slog.LevelError)
				defer e.close()
				return listServices(e)
			},
		}},
	}
}

func listServices(e *env) error {
	reg, err := e.registry()
	if err != nil {
		return err
	}
	svcs, err := reg.ListServices(e.ctx())
	if err != nil {
		return e.registryError(err)
	}
	slices.SortFunc(svcs, func(a, b *registry.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	if jsonOutput(e.c) {
		// Name, version and metadata: what every registry lists (some
		// leave nodes and endpoints out; `get service` has them).
		out := make([]*registry.Service, len(svcs))
		for i, s := range svcs {
			out[i] = &registry.Service{Name: s.Name, Version: s.Version, Metadata: s.Metadata}
		}
		return writeJSON(e.stdout, out)
	}
	t := newTable(e.stdout, "NAME", "VERSION")
	for _, s := range svcs {
		t.row(s.Name, s.Version)
	}
	return t.flush()
}

// getCommand is `micro get service NAME`.
func getCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "get",
		Usage: "show one entry of the registry",
		Subcommands: []*ucli.Command{{
			Name:      "service",
			Usage:     "show a service: its nodes with their addresses and metadata, and its endpoints with their request and response shapes",
			ArgsUsage: "NAME",
			Flags:     []ucli.Flag{outputFlag()},
			Action: func(c *ucli.Context) error {
				args, err := exactArgs(c, "NAME")
				if err != nil {
					return err
				}
				e := newEnv(c, o, slog.LevelError)
				defer e.close()
				return getService(e, args[0])
			},
		}},
	}
}

func getService(e *env, name string) error {
	svcs, err := e.getService(name)
	if err != nil {
		return err
	}
	slices.SortFunc(svcs, func(a, b *registry.Service) int { return cmp.Compare(a.Version, b.Version) })
	for _, s := range svcs {
		slices.SortFunc(s.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.Id, b.Id) })
		slices.SortFunc(s.Endpoints, func(a, b *registry.Endpoint) int { return cmp.Compare(a.Name, b.Name) })
	}
	if jsonOutput(e.c) {
		return writeJSON(e.stdout, svcs)
	}
	var buf bytes.Buffer
	for i, s := range svcs {
		if i > 0 {
			buf.WriteString("\n")
		}
		writeService(&buf, s)
	}
	_, err = e.stdout.Write(buf.Bytes())
	return err
}

// writeService writes one version of a service for people.
func writeService(w io.Writer, s *registry.Service) {
	fmt.Fprintf(w, "service  %s\n", printable(s.Name))
	fmt.Fprintf(w, "version  %s\n", printable(cmp.Or(s.Version, "-")))
	if len(s.Metadata) > 0 {
		fmt.Fprintf(w, "metadata %s\n", printable(pairs(s.Metadata)))
	}
	fmt.Fprintln(w)
	t := newTable(w, "NODE", "ADDRESS", "METADATA")
	for _, n := range s.Nodes {
		if n != nil {
			t.row(n.Id, n.Address, pairs(n.Metadata))
		}
	}
	_ = t.flush()
	for _, ep := range s.Endpoints {
		if ep == nil {
			continue
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "endpoint %s", printable(ep.Name))
		if len(ep.Metadata) > 0 {
			fmt.Fprintf(w, "  (%s)", printable(pairs(ep.Metadata)))
		}
		fmt.Fprintln(w)
		if ep.Request == nil && ep.Response == nil {
			continue
		}
		fmt.Fprint(w, "  request  ")
		writeShape(w, ep.Request, "  ")
		fmt.Fprint(w, "  response ")
		writeShape(w, ep.Response, "  ")
	}
}

// registerCommand is `micro register service JSON`.
func registerCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "register",
		Usage: "add an entry to the registry",
		Subcommands: []*ucli.Command{{
			Name:  "service",
			Usage: "register the nodes of a service given as JSON (the registry's Service: name, version, metadata, endpoints, nodes)",
			Description: "The JSON is a registry Service, for example\n\n" +
				`   micro register service '{"name":"legacy","version":"1.0.0","nodes":[{"id":"legacy-1","address":"127.0.0.1:9090"}]}'` + "\n\n" +
				"   JSON - reads it from stdin. Without --ttl the nodes stay until `micro deregister service`\n" +
				"   removes them.",
			ArgsUsage: "JSON",
			Flags: []ucli.Flag{&ucli.StringFlag{
				Name:  "ttl",
				Usage: "let the nodes expire after this long unless registered again: a duration such as 90s, or whole seconds (default: no expiry)",
			}},
			Action: func(c *ucli.Context) error {
				args, err := exactArgs(c, "JSON")
				if err != nil {
					return err
				}
				var opts []registry.RegisterOption
				if s := c.String("ttl"); s != "" {
					d, err := cmd.ParseDuration(s)
					if err != nil || d <= 0 {
						return usage(c, "--ttl %q: want a positive duration such as 90s, or whole seconds", s)
					}
					opts = append(opts, registry.RegisterTTL(d))
				}
				text, err := jsonArg(o, args[0])
				if err != nil {
					return err
				}
				e := newEnv(c, o, slog.LevelError)
				defer e.close()
				return changeService(e, text, "registered", func(reg registry.Registry, s *registry.Service) error {
					return reg.Register(e.ctx(), s, opts...)
				})
			},
		}},
	}
}

// deregisterCommand is `micro deregister service JSON`.
func deregisterCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "deregister",
		Usage: "remove an entry from the registry",
		Subcommands: []*ucli.Command{{
			Name:  "service",
			Usage: "deregister the nodes of a service given as JSON (name, version and the nodes' ids are what count)",
			Description: "For example\n\n" +
				`   micro deregister service '{"name":"legacy","version":"1.0.0","nodes":[{"id":"legacy-1"}]}'`,
			ArgsUsage: "JSON",
			Action: func(c *ucli.Context) error {
				args, err := exactArgs(c, "JSON")
				if err != nil {
					return err
				}
				text, err := jsonArg(o, args[0])
				if err != nil {
					return err
				}
				e := newEnv(c, o, slog.LevelError)
				defer e.close()
				return changeService(e, text, "deregistered", func(reg registry.Registry, s *registry.Service) error {
					return reg.Deregister(e.ctx(), s)
				})
			},
		}},
	}
}

// changeService parses a Service from JSON and applies change to it.
func changeService(e *env, text, done string, change func(registry.Registry, *registry.Service) error) error {
	s, err := parseService(text)
	if err != nil {
		return err
	}
	reg, err := e.registry()
	if err != nil {
		return err
	}
	if err := change(reg, s); err != nil {
		if isInvalid(err) {
			return badInput("%v", err)
		}
		return e.registryError(err)
	}
	nodes := "nodes"
	if len(s.Nodes) == 1 {
		nodes = "node"
	}
	_, err = fmt.Fprintf(e.stdout, "%s %s %s (%d %s)\n", done, printable(s.Name), printable(cmp.Or(s.Version, "-")), len(s.Nodes), nodes)
	return err
}

// parseService reads a registry Service from JSON: malformed JSON, unknown
// fields and a service the registry would refuse are bad input.
func parseService(text string) (*registry.Service, error) {
	if err := checkJSON(text); err != nil {
		return nil, err
	}
	dec := stdjson.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	var s registry.Service
	if err := dec.Decode(&s); err != nil {
		return nil, badInput("the service JSON does not describe a service: %v", err)
	}
	if err := registry.Validate(&s); err != nil {
		return nil, badInput("%v", err)
	}
	return &s, nil
}

func isInvalid(err error) bool { return stderrors.Is(err, registry.ErrInvalidService) }
