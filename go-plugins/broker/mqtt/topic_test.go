package mqtt

import (
	"errors"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/broker"
)

func TestMapTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  string // "" when refused
	}{
		{"orders", "orders"},
		{"go.micro.orders", "go/micro/orders"},
		{"a..b", "a//b"},
		{".leading", "/leading"},
		{"trailing.", "trailing/"},
		{"dash-and_under", "dash-and_under"},
		{"ünïcödé.tópic", "ünïcödé/tópic"},
		{"", ""},
		{"a/b", ""},
		{"a+b", ""},
		{"a.#", ""},
		{"+", ""},
		{"$SYS.broker", ""},
		{"$share.g.t", ""},
		{"with space", ""},
		{"nul\x00", ""},
		{"bad\xffutf8", ""},
		{strings.Repeat("x", maxTopicLen), strings.Repeat("x", maxTopicLen)},
		{strings.Repeat("x", maxTopicLen+1), ""},
	}
	for _, tt := range tests {
		name := tt.topic
		if len(name) > 40 {
			name = name[:20] + "..."
		}
		t.Run(name, func(t *testing.T) {
			got, err := MapTopic(tt.topic)
			if tt.want == "" {
				if !errors.Is(err, broker.ErrInvalidTopic) {
					t.Fatalf("MapTopic(%q) = %q, %v; want ErrInvalidTopic", tt.topic, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("MapTopic(%q) = %q, %v; want %q", tt.topic, got, err, tt.want)
			}
			if back := brokerTopic(got); back != tt.topic {
				t.Errorf("brokerTopic(%q) = %q, want %q", got, back, tt.topic)
			}
		})
	}
}

func TestSharedFilter(t *testing.T) {
	tests := []struct {
		group, name string
		want        string
		wantErr     error
	}{
		{"workers", "a/b", "$share/workers/a/b", nil},
		{"g.1", "t", "$share/g.1/t", nil},
		{"", "t", "", ErrInvalidQueue},
		{"a/b", "t", "", ErrInvalidQueue},
		{"a+", "t", "", ErrInvalidQueue},
		{"#", "t", "", ErrInvalidQueue},
		{"sp ace", "t", "", ErrInvalidQueue},
		{"g", strings.Repeat("x", maxTopicLen-8), "", broker.ErrInvalidTopic},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			got, err := sharedFilter(tt.group, tt.name)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("sharedFilter(%q) = %q, %v; want %v", tt.group, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("sharedFilter(%q, %q) = %q, %v; want %q", tt.group, tt.name, got, err, tt.want)
			}
		})
	}
}
