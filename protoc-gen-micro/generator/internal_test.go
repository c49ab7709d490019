package generator

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TestFileSyntaxField checks the field numbers the header's comments are
// found by.
func TestFileSyntaxField(t *testing.T) {
	fields := (&descriptorpb.FileDescriptorProto{}).ProtoReflect().Descriptor().Fields()
	for name, want := range map[string]int{"syntax": fileSyntaxField, "edition": fileEditionField} {
		if f := fields.ByName(protoreflect.Name(name)); f == nil || int(f.Number()) != want {
			t.Errorf("FileDescriptorProto.%s is %v, want field %d", name, f, want)
		}
	}
}

func TestSanitizeLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"tab\tkept", "tab\tkept"},
		{"nul\x00gone", "nulgone"},
		{"bad \xff utf-8", "bad \uFFFD utf-8"},
		{"bom\uFEFFgone", "bomgone"},
		{"cr\rgone", "crgone"},
	}
	for _, tc := range cases {
		if got := sanitizeLine(tc.in); got != tc.want {
			t.Errorf("sanitizeLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestList(t *testing.T) {
	cases := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a and b"},
		{[]string{"a", "b", "c"}, "a, b and c"},
	}
	for _, tc := range cases {
		if got := list(tc.in); got != tc.want {
			t.Errorf("list(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
