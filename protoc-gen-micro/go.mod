module github.com/openmicro/protoc-gen-micro

go 1.26.7

require (
	github.com/bufbuild/protocompile v0.14.1
	github.com/openmicro/go-micro v0.0.0
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.12
)

require golang.org/x/sync v0.8.0 // indirect

replace github.com/openmicro/go-micro => ../go-micro
