package http

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"time"
)

// upgradeToken is the protocol named in the Upgrade header: the binary
// multiplexed framing of this package, version 1.
const upgradeToken = "micro-mux/1"

const upgradeRequest = "GET / HTTP/1.1\r\n" +
	"Host: %s\r\n" +
	"User-Agent: go-micro\r\n" +
	"Connection: Upgrade\r\n" +
	"Upgrade: " + upgradeToken + "\r\n\r\n"

const upgradeResponse = "HTTP/1.1 101 Switching Protocols\r\n" +
	"Connection: Upgrade\r\n" +
	"Upgrade: " + upgradeToken + "\r\n\r\n"

const upgradeRequired = "This address serves the go-micro transport, which speaks " + upgradeToken +
	" after an HTTP/1.1 upgrade.\nSend \"Connection: Upgrade\" and \"Upgrade: " + upgradeToken +
	"\", or call the service through a go-micro client or the micro API gateway.\n"

var (
	errUpgrade       = errors.New("transport/http: upgrade refused")
	errHandshakeSize = errors.New("transport/http: upgrade request or response too large")
)

// maxHandshake bounds the bytes either side reads before the upgrade is
// done, so that a peer sending an endless request or response costs a
// bounded buffer rather than Options.Timeout's worth of input.
const maxHandshake = 64 << 10

// handshakeReader limits the reads made during the upgrade; unlimit lifts
// the limit for the frames that follow.
type handshakeReader struct {
	r    io.Reader
	left int64 // bytes still allowed; < 0: unlimited
}

func (h *handshakeReader) Read(p []byte) (int, error) {
	if h.left < 0 {
		return h.r.Read(p)
	}
	if h.left == 0 {
		return 0, errHandshakeSize
	}
	if int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= int64(n)
	return n, err
}

func (h *handshakeReader) unlimit() { h.left = -1 }

// ctxErr prefers ctx's error over err when ctx ended: a deadline set to
// interrupt a handshake surfaces as a timeout that the caller did not ask
// for.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// clientHandshake secures nc with TLS when cfg is set and performs the
// upgrade. It returns the connection and the buffered reader that carries
// frames; the upgrade request was flushed, so frames go to the connection
// directly.
func clientHandshake(ctx context.Context, nc net.Conn, addr string, cfg *tls.Config) (net.Conn, *bufio.Reader, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if cfg != nil {
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg.ServerName = host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("tls handshake: %w", ctxErr(ctx, err))
		}
		nc = tc
	}
	hr := &handshakeReader{r: nc, left: maxHandshake}
	bw := bufio.NewWriter(nc) // the handshake only
	br := bufio.NewReaderSize(hr, bufSize)
	if _, err := fmt.Fprintf(bw, upgradeRequest, addr); err != nil {
		return nil, nil, ctxErr(ctx, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, nil, ctxErr(ctx, err)
	}
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("reading upgrade response: %w", ctxErr(ctx, err))
	}
	if resp.StatusCode != nethttp.StatusSwitchingProtocols ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), upgradeToken) {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		_ = resp.Body.Close()
		return nil, nil, fmt.Errorf("%w: %s: %s", errUpgrade, resp.Status, strings.TrimSpace(string(snippet)))
	}
	if !stop() {
		return nil, nil, ctx.Err()
	}
	_ = nc.SetDeadline(time.Time{})
	hr.unlimit()
	return nc, br, nil
}

// serverHandshake secures nc with TLS when cfg is set and answers the
// upgrade request. A request without the upgrade is answered with 426
// Upgrade Required and an explanation, and reported as an error.
func serverHandshake(ctx context.Context, nc net.Conn, cfg *tls.Config, timeout time.Duration) (net.Conn, *bufio.Reader, error) {
	_ = nc.SetDeadline(time.Now().Add(timeout))
	if cfg != nil {
		tc := tls.Server(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	hr := &handshakeReader{r: nc, left: maxHandshake}
	br := bufio.NewReaderSize(hr, bufSize)
	bw := bufio.NewWriter(nc) // the handshake only
	req, err := nethttp.ReadRequest(br)
	if err != nil {
		if errors.Is(err, errHandshakeSize) {
			writeStatus(bw, nethttp.StatusRequestHeaderFieldsTooLarge, "upgrade request too large\n")
		} else {
			writeStatus(bw, nethttp.StatusBadRequest, "malformed HTTP request\n")
		}
		return nil, nil, fmt.Errorf("reading upgrade request: %w", err)
	}
	_ = req.Body.Close()
	if !hasToken(req.Header.Values("Connection"), "upgrade") ||
		!hasToken(req.Header.Values("Upgrade"), upgradeToken) {
		writeStatus(bw, nethttp.StatusUpgradeRequired, upgradeRequired)
		return nil, nil, fmt.Errorf("%w: %s %s without Upgrade: %s", errUpgrade, req.Method, req.URL, upgradeToken)
	}
	if _, err := bw.WriteString(upgradeResponse); err != nil {
		return nil, nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	hr.unlimit()
	return nc, br, nil
}

func writeStatus(bw *bufio.Writer, code int, body string) {
	_, _ = fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nConnection: close\r\nUpgrade: %s\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %s\r\n\r\n%s",
		code, nethttp.StatusText(code), upgradeToken, strconv.Itoa(len(body)), body)
	_ = bw.Flush()
}

// hasToken reports whether a comma-separated header holds token.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}
