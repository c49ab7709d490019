package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/protoc-gen-micro/generator"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// request is a request for one file that protoc could send: a service
// Say with one RPC, or no service.
func request(param string, withService bool) []byte {
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("say.proto"),
		Package: proto.String("say"),
		Syntax:  proto.String("proto3"),
		Options: &descriptorpb.FileOptions{GoPackage: proto.String("example.com/say")},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("Request")},
			{Name: proto.String("Response")},
		},
	}
	if withService {
		fd.Service = []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Say"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name:       proto.String("Hello"),
				InputType:  proto.String(".say.Request"),
				OutputType: proto.String(".say.Response"),
			}},
		}}
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{"say.proto"},
		ProtoFile:      []*descriptorpb.FileDescriptorProto{fd},
	}
	if param != "" {
		req.Parameter = proto.String(param)
	}
	b, err := proto.Marshal(req)
	if err != nil {
		panic(err)
	}
	return b
}

func TestRun(t *testing.T) {
	noFiles, err := proto.Marshal(&pluginpb.CodeGeneratorRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		args      []string
		stdin     []byte
		wantCode  int
		wantFiles []string // for a response
		wantOut   string   // in stdout, without a response
		wantErr   string   // in stderr
	}{
		{"one service", nil, request("", true), 0, []string{"example.com/say/say.pb.micro.go"}, "", ""},
		{"source relative", nil, request("paths=source_relative", true), 0, []string{"say.pb.micro.go"}, "", ""},
		{"M mapping", nil, request("Msay.proto=example.org/mapped;mappedpb", true), 0, []string{"example.org/mapped/say.pb.micro.go"}, "", ""},
		{"M mapping, source relative", nil, request("paths=source_relative,Msay.proto=example.org/mapped", true), 0, []string{"say.pb.micro.go"}, "", ""},
		{"module prefix", nil, request("module=example.com", true), 0, []string{"say/say.pb.micro.go"}, "", ""},
		{"no service", nil, request("", false), 0, []string{}, "", ""},
		{"no file to generate", nil, noFiles, 0, []string{}, "", ""},
		{"unknown parameter", nil, request("plugins=grpc", true), 1, nil, "", `protoc-gen-micro: generator: unknown parameter "plugins"`},
		{"not a request", nil, []byte("\xff\xff\xff"), 1, nil, "", "protoc-gen-micro: the input is not a CodeGeneratorRequest"},
		{"version", []string{"--version"}, nil, 0, nil, "protoc-gen-micro " + generator.Version + "\n", ""},
		{"argument", []string{"x.proto"}, nil, 1, nil, "", `protoc-gen-micro: unknown argument "x.proto"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, bytes.NewReader(tc.stdin), &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErr) || tc.wantErr == "" && stderr.Len() > 0 {
				t.Fatalf("stderr %q, want %q", stderr.String(), tc.wantErr)
			}
			if tc.wantFiles == nil {
				if stdout.String() != tc.wantOut {
					t.Fatalf("stdout %q, want %q", stdout.String(), tc.wantOut)
				}
				return
			}
			rsp := new(pluginpb.CodeGeneratorResponse)
			if err := proto.Unmarshal(stdout.Bytes(), rsp); err != nil {
				t.Fatalf("stdout is not a response: %v", err)
			}
			if rsp.Error != nil || len(rsp.File) != len(tc.wantFiles) {
				t.Fatalf("response %v, want the files %v", rsp, tc.wantFiles)
			}
			for i, f := range rsp.File {
				if f.GetName() != tc.wantFiles[i] {
					t.Fatalf("file %q, want %q", f.GetName(), tc.wantFiles[i])
				}
			}
		})
	}
}

// TestProtoc builds the plugin and runs it under protoc (Debian's
// protobuf-compiler) as a user would: the file it writes is the golden
// one, but for the protoc version; a bad --micro_opt makes protoc fail
// with the plugin's message.
func TestProtoc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		testenv.Missing(t, "protoc", "no protoc on PATH: install Debian's protobuf-compiler (make test-deps)")
	}
	dir := t.TempDir()
	plugin := filepath.Join(dir, "protoc-gen-micro")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", plugin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	src := filepath.Join("generator", "testdata", "streams")
	cmd := exec.CommandContext(t.Context(), protoc, "-I", src, "--plugin=protoc-gen-micro="+plugin,
		"--micro_out=paths=source_relative:"+dir, "streams.proto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "streams.pb.micro.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(src, "streams.pb.micro.go.golden"))
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^// - protoc +.*$`)
	if !version.Match(got) || string(version.ReplaceAll(got, nil)) != string(version.ReplaceAll(want, nil)) {
		t.Fatalf("protoc's output differs from the golden file:\n%s", got)
	}

	cmd = exec.CommandContext(t.Context(), protoc, "-I", src, "--plugin=protoc-gen-micro="+plugin,
		"--micro_out="+dir, "--micro_opt=plugins=grpc", "streams.proto")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `protoc-gen-micro: generator: unknown parameter "plugins"`) {
		t.Fatalf("protoc with a bad option: %v\n%s", err, out)
	}
}

// TestWarnings checks that a warning reaches stderr as one line protoc
// can show, without a timestamp, and does not fail the run.
func TestWarnings(t *testing.T) {
	req := new(pluginpb.CodeGeneratorRequest)
	if err := proto.Unmarshal(request("", true), req); err != nil {
		t.Fatal(err)
	}
	fd := req.ProtoFile[0]
	fd.MessageType = append(fd.MessageType, &descriptorpb.DescriptorProto{Name: proto.String("SayService")})
	in, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(nil, bytes.NewReader(in), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	want := `level=WARN msg="protoc-gen-micro: a generated name is taken in the Go package: renamed" file=say.proto want=SayService got=SayService_`
	if len(lines) != 1 || lines[0] != want {
		t.Fatalf("stderr:\n%s\nwant the one line\n%s", stderr.String(), want)
	}
}

// An M mapping decides the Go package of the generated file, as it does
// for protoc-gen-go.
func TestMMappingPackage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(nil, bytes.NewReader(request("Msay.proto=example.org/mapped;mappedpb", true)), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	rsp := new(pluginpb.CodeGeneratorResponse)
	if err := proto.Unmarshal(stdout.Bytes(), rsp); err != nil || len(rsp.File) != 1 {
		t.Fatalf("response %v, %v", rsp, err)
	}
	if !strings.Contains(rsp.File[0].GetContent(), "\npackage mappedpb\n") {
		t.Errorf("generated file not in package mappedpb:\n%.400s", rsp.File[0].GetContent())
	}
}
