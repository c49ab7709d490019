module github.com/openmicro/go-plugins/broker/rabbitmq

go 1.26.7

require (
	github.com/openmicro/go-micro v0.0.0
	github.com/rabbitmq/amqp091-go v1.16.0
	go.uber.org/goleak v1.3.0
)

require google.golang.org/protobuf v1.36.12 // indirect

replace github.com/openmicro/go-micro => ../../../go-micro
