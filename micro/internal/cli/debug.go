package cli

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/server"
)

// nodeResult is what one node answered to a Debug call.
type nodeResult[T any] struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Version string `json:"version"`
	// Result is the node's answer; nil when it did not answer.
	Result *T `json:"result,omitempty"`
	// Error says why the node did not answer.
	Error string `json:"error,omitempty"`
}

// askNodes calls the Debug endpoint of every node of the service at once,
// each by its address and without retries, and returns the answers sorted
// by version and node id.
func askNodes[T any](e *env, service, endpoint string, req any) ([]nodeResult[T], error) {
	svcs, err := e.getService(service)
	if err != nil {
		return nil, err
	}
	c, err := e.newClient()
	if err != nil {
		return nil, err
	}
	var results []nodeResult[T]
	var targets []*registry.Node
	for _, s := range svcs {
		for _, n := range s.Nodes {
			if n == nil {
				continue
			}
			results = append(results, nodeResult[T]{ID: n.Id, Address: n.Address, Version: s.Version})
			targets = append(targets, n)
		}
	}
	var wg sync.WaitGroup
	for i, n := range targets {
		wg.Go(func() {
			rsp := new(T)
			err := c.Call(e.ctx(), c.NewRequest(service, endpoint, req), rsp,
				client.WithAddress(n.Address), client.WithRetries(0))
			if err != nil {
				results[i].Error = describe(err)
				return
			}
			results[i].Result = rsp
		})
	}
	wg.Wait()
	if e.ctx().Err() != nil {
		return nil, interrupted()
	}
	slices.SortFunc(results, func(a, b nodeResult[T]) int {
		return cmp.Or(cmp.Compare(a.Version, b.Version), cmp.Compare(a.ID, b.ID))
	})
	return results, nil
}

// healthCommand is `micro health SERVICE`.
func healthCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "health",
		Usage: "ask every node of a service for its health (Debug.Health); fails when any node is unhealthy or unreachable",
		Description: "Each node the registry lists is called by its address. The exit status is 0 when\n" +
			"   every node answers \"ok\", and 1 otherwise.",
		ArgsUsage: "SERVICE",
		Flags:     []ucli.Flag{outputFlag()},
		Action: func(c *ucli.Context) error {
			args, err := exactArgs(c, "SERVICE")
			if err != nil {
				return err
			}
			e := newEnv(c, o, slog.LevelError)
			defer e.close()
			return health(e, args[0])
		},
	}
}

// healthRow is a node's health as `micro health --output json` prints it.
type healthRow struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Version string `json:"version"`
	Status  string `json:"status"`
	Error   string `json:"error,omitempty"`
}

func health(e *env, service string) error {
	results, err := askNodes[server.HealthResponse](e, service, "Debug.Health", &server.HealthRequest{})
	if err != nil {
		return err
	}
	rows := make([]healthRow, len(results))
	bad := 0
	for i, r := range results {
		rows[i] = healthRow{ID: r.ID, Address: r.Address, Version: r.Version, Error: r.Error}
		switch {
		case r.Result == nil:
			rows[i].Status = "unreachable"
		case r.Result.Status == "":
			rows[i].Status = "unknown"
		default:
			rows[i].Status = r.Result.Status
		}
		if rows[i].Status != "ok" {
			bad++
		}
	}
	if jsonOutput(e.c) {
		if err := writeJSON(e.stdout, rows); err != nil {
			return err
		}
	} else {
		t := newTable(e.stdout, "NODE", "ADDRESS", "VERSION", "STATUS", "ERROR")
		for _, r := range rows {
			t.row(r.ID, r.Address, r.Version, r.Status, r.Error)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if bad > 0 {
		return failure("%s: %d of %d nodes unhealthy or unreachable", service, bad, len(rows))
	}
	return nil
}

// statsCommand is `micro stats SERVICE`.
func statsCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "stats",
		Usage: "show the statistics of every node of a service (Debug.Stats)",
		Description: "Uptime, memory in use, goroutines, and the requests and errors served since the\n" +
			"   node started. The exit status is 1 when a node does not answer.",
		ArgsUsage: "SERVICE",
		Flags:     []ucli.Flag{outputFlag()},
		Action: func(c *ucli.Context) error {
			args, err := exactArgs(c, "SERVICE")
			if err != nil {
				return err
			}
			e := newEnv(c, o, slog.LevelError)
			defer e.close()
			return stats(e, args[0])
		},
	}
}

func stats(e *env, service string) error {
	results, err := askNodes[server.StatsResponse](e, service, "Debug.Stats", &server.StatsRequest{})
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range results {
		if r.Result == nil {
			bad++
		}
	}
	if jsonOutput(e.c) {
		if err := writeJSON(e.stdout, results); err != nil {
			return err
		}
	} else {
		t := newTable(e.stdout, "NODE", "ADDRESS", "VERSION", "STARTED", "UPTIME", "MEMORY", "GOROUTINES", "REQUESTS", "ERRORS")
		for _, r := range results {
			if r.Result == nil {
				t.row(r.ID, r.Address, r.Version, "unreachable: "+r.Error, "", "", "", "", "")
				continue
			}
			s := r.Result
			started := "-"
			if s.Started > 0 {
				started = time.Unix(s.Started, 0).UTC().Format(time.RFC3339)
			}
			t.row(r.ID, r.Address, r.Version, started,
				(time.Duration(s.Uptime) * time.Second).String(), bytesSize(s.Memory),
				strconv.Itoa(s.Goroutines), strconv.FormatUint(s.Requests, 10), strconv.FormatUint(s.Errors, 10))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if bad > 0 {
		return failure("%s: %d of %d nodes did not answer", service, bad, len(results))
	}
	return nil
}

// bytesSize renders a byte count in binary units.
func bytesSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
