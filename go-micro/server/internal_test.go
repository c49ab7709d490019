package server

import (
	"net"
	"regexp"
	"testing"
)

func TestAdvertiseAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.5:8080", "10.0.0.5:8080"},
		{"127.0.0.1:1", "127.0.0.1:1"},
		{"example.com:80", "example.com:80"},
		{"[2001:db8::1]:9", "[2001:db8::1]:9"},
		{"memory-name", "memory-name"},
	}
	for _, tt := range tests {
		if got := advertiseAddr(tt.in); got != tt.want {
			t.Errorf("advertiseAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{":8080", "0.0.0.0:8080", "[::]:8080"} {
		got := advertiseAddr(in)
		host, port, err := net.SplitHostPort(got)
		ip := net.ParseIP(host)
		if err != nil || port != "8080" || ip == nil || ip.To4() == nil || !(ip.IsLoopback() || ip.IsPrivate()) {
			t.Errorf("advertiseAddr(%q) = %q, want a private or loopback IPv4 with port 8080", in, got)
		}
	}
}

func TestPrivateIPv4(t *testing.T) {
	ipnet := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	tests := []struct {
		addrs []net.Addr
		want  string
	}{
		{nil, "127.0.0.1"},
		{[]net.Addr{ipnet("127.0.0.1/8"), ipnet("::1/128")}, "127.0.0.1"},
		{[]net.Addr{ipnet("127.0.0.1/8"), ipnet("8.8.8.8/24"), ipnet("fd00::1/64"), ipnet("192.168.1.7/24"), ipnet("10.0.0.1/8")}, "192.168.1.7"},
		{[]net.Addr{&net.IPAddr{IP: net.ParseIP("172.16.0.9")}}, "172.16.0.9"},
		{[]net.Addr{ipnet("169.254.1.1/16")}, "127.0.0.1"},
	}
	for _, tt := range tests {
		if got := privateIPv4(tt.addrs); got != tt.want {
			t.Errorf("privateIPv4(%v) = %q, want %q", tt.addrs, got, tt.want)
		}
	}
}

func TestNewUUID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := newUUID(), newUUID()
	if !re.MatchString(a) || a == b {
		t.Fatalf("%q %q", a, b)
	}
}
