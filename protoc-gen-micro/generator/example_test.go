package generator_test

import (
	"fmt"

	"github.com/openmicro/protoc-gen-micro/generator"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// Generate on the request protoc would send for a file with one service.
func ExampleGenerate() {
	file := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("greeter/greeter.proto"),
		Package: proto.String("greeter"),
		Syntax:  proto.String("proto3"),
		Options: &descriptorpb.FileOptions{GoPackage: proto.String("example.com/greeter")},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("Request")},
			{Name: proto.String("Response")},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Say"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{Name: proto.String("Hello"), InputType: proto.String(".greeter.Request"), OutputType: proto.String(".greeter.Response")},
				{Name: proto.String("Stream"), InputType: proto.String(".greeter.Request"), OutputType: proto.String(".greeter.Response"), ServerStreaming: proto.Bool(true)},
			},
		}},
	}
	rsp, err := generator.Generate(&pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{"greeter/greeter.proto"},
		Parameter:      proto.String("paths=source_relative"),
		ProtoFile:      []*descriptorpb.FileDescriptorProto{file},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range rsp.File {
		fmt.Println(f.GetName())
	}
	// Output:
	// greeter/greeter.pb.micro.go
}
