module github.com/openmicro/go-micro

go 1.26

require (
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.12
)
