module github.com/openmicro/benchmarks

go 1.26.7

require (
	github.com/nats-io/nats.go v1.55.0
	github.com/openmicro/go-micro v0.0.0
	github.com/openmicro/go-plugins/broker/nats v0.0.0
	go.uber.org/goleak v1.3.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)

replace github.com/openmicro/go-micro => ../go-micro

replace github.com/openmicro/go-plugins/broker/nats => ../go-plugins/broker/nats
