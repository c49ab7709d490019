package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net"
	"strings"
	"time"

	"github.com/openmicro/go-micro/registry"
)

// service builds the registration of a server listening at addr.
func (s *rpcServer) service(handlers []*rpcHandler, addr string) *registry.Service {
	o := &s.opts
	if o.Advertise != "" {
		addr = o.Advertise
	} else {
		addr = advertiseAddr(addr)
	}
	md := make(map[string]string, len(o.Metadata)+5)
	maps.Copy(md, o.Metadata)
	md["transport"] = o.Transport.String()
	if o.Broker != nil {
		md["broker"] = o.Broker.String()
	}
	md["registry"] = o.Registry.String()
	md["server"] = "rpc"
	md["protocol"] = "mucp"
	return &registry.Service{
		Name:      o.Name,
		Version:   o.Version,
		Endpoints: endpointsOf(handlers),
		Nodes:     []*registry.Node{{Id: o.Id, Address: addr, Metadata: md}},
	}
}

// advertiseAddr turns a listen address into one peers can dial: an
// unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") becomes the
// machine's first non-loopback private IPv4 address, or 127.0.0.1 when it
// has none. Anything that is not host:port is kept as it is.
func advertiseAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			return addr
		}
	}
	ifaddrs, _ := net.InterfaceAddrs()
	return net.JoinHostPort(privateIPv4(ifaddrs), port)
}

// privateIPv4 returns the first private, non-loopback IPv4 address among
// addrs, or 127.0.0.1.
func privateIPv4(addrs []net.Addr) string {
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if ip4 := ip.To4(); ip4 != nil && !ip4.IsLoopback() && ip4.IsPrivate() {
			return ip4.String()
		}
	}
	return "127.0.0.1"
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// attemptTimeout bounds one Register or Deregister call: the renewal
// interval, kept between one and ten seconds.
func attemptTimeout(interval time.Duration) time.Duration {
	return min(max(interval, time.Second), 10*time.Second)
}

// firstRetry is the first wait after a failed registration; it doubles on
// each failure up to RegisterInterval.
const firstRetry = 500 * time.Millisecond

// register registers the service once; on failure it logs the warning
// that starts an outage (the loop logs later failures at debug level).
func (r *run) register(ctx context.Context) error {
	err := r.registerOnce(ctx)
	if err != nil {
		r.warnUnregistered(err)
	}
	return err
}

func (r *run) registerOnce(ctx context.Context) error {
	o := &r.s.opts
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout(o.RegisterInterval))
	defer cancel()
	return o.Registry.Register(ctx, r.service, registry.RegisterTTL(o.RegisterTTL))
}

func (r *run) warnUnregistered(err error) {
	o := &r.s.opts
	args := []any{
		"service", r.service.Name,
		"node", r.service.Nodes[0].Id,
		"address", r.service.Nodes[0].Address,
		"registry", o.Registry.String(),
	}
	if addrs := registryAddrs(o.Registry); addrs != "" {
		args = append(args, "registry_address", addrs)
	}
	args = append(args,
		"error", err,
		"retry_max_interval", o.RegisterInterval,
		"hint", "start the registry (micro server) or point --registry/--registry_address at a running one",
	)
	o.Logger.Warn("server: cannot register with the registry; still serving, and retrying registration until it works", args...)
}

// registryAddrs returns the addresses a registry was built with, when it
// tells them through an Options method.
func registryAddrs(reg registry.Registry) string {
	if ro, ok := reg.(interface{ Options() registry.Options }); ok {
		return strings.Join(ro.Options().Addrs, ",")
	}
	return ""
}

// registerLoop renews the registration every RegisterInterval; after a
// failure it retries sooner, backing off up to RegisterInterval. ok says
// whether the registration in Start worked. It returns when ctx ends.
func (r *run) registerLoop(ctx context.Context, ok bool) {
	defer close(r.regDone)
	o := &r.s.opts
	interval := o.RegisterInterval
	retry := min(firstRetry, interval)
	failures := 0
	if !ok {
		failures = 1
	}
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		wait := interval
		if failures > 0 {
			wait = retry
			retry = min(retry*2, interval)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := r.registerOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && failures > 0:
			o.Logger.Info("server: registered with the registry again",
				"service", r.service.Name, "address", r.service.Nodes[0].Address,
				"registry", o.Registry.String(), "failed_attempts", failures)
			failures = 0
			retry = min(firstRetry, interval)
		case err != nil && failures == 0:
			r.warnUnregistered(err)
			failures = 1
		case err != nil:
			failures++
			o.Logger.Debug("server: registration failed again", "service", r.service.Name,
				"registry", o.Registry.String(), "attempt", failures, "error", err)
		}
	}
}

// deregister removes the node from the registry, logging a failure.
func (r *run) deregister(ctx context.Context) {
	o := &r.s.opts
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout(o.RegisterInterval))
	defer cancel()
	if err := o.Registry.Deregister(ctx, r.service); err != nil {
		o.Logger.Warn("server: cannot deregister; the registration lapses with its TTL",
			"service", r.service.Name, "node", r.service.Nodes[0].Id,
			"registry", o.Registry.String(), "ttl", o.RegisterTTL, "error", err)
	}
}
