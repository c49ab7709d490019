module github.com/openmicro/go-plugins/broker/mqtt

go 1.26.7

require (
	github.com/eclipse/paho.mqtt.golang v1.5.1
	github.com/openmicro/go-micro v0.0.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/net v0.44.0 // indirect
	golang.org/x/sync v0.17.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/openmicro/go-micro => ../../../go-micro
