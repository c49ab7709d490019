package mqtt_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-plugins/broker/mqtt"
)

// Publishing and subscribing through a Mosquitto on 127.0.0.1:1883, with a
// queue group. It needs the server, so it is compiled but not run by go
// test; the package's tests run the same against a live server.
func Example() {
	ctx := context.Background()
	b, err := mqtt.New(broker.Addrs("127.0.0.1:1883"), mqtt.QoS(1))
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	defer b.Disconnect(ctx)

	got := make(chan string, 1)
	_, err = b.Subscribe(ctx, "go.micro.orders", func(ctx context.Context, e broker.Event) error {
		got <- e.Message().Header["Id"] + ": " + string(e.Message().Body)
		return nil // acks
	}, broker.Queue("order-workers"))
	if err != nil {
		log.Fatal(err)
	}
	err = b.Publish(ctx, "go.micro.orders", &broker.Message{
		Header: map[string]string{"Id": "42"},
		Body:   []byte("two coffees"),
	})
	if err != nil {
		log.Fatal(err)
	}
	select {
	case s := <-got:
		fmt.Println(s)
	case <-time.After(10 * time.Second):
		fmt.Println("nothing arrived")
	}
}

func ExampleMapTopic() {
	for _, topic := range []string{"go.micro.orders", "orders/eu", "sensors.#"} {
		name, err := mqtt.MapTopic(topic)
		if err != nil {
			fmt.Println("refused:", topic)
			continue
		}
		fmt.Println(topic, "->", name)
	}
	// Output:
	// go.micro.orders -> go/micro/orders
	// refused: orders/eu
	// refused: sensors.#
}

// Another MQTT client publishes to go-micro subscribers by sending an
// envelope on the mapped topic.
func ExampleEncodeEnvelope() {
	payload := mqtt.EncodeEnvelope(&broker.Message{
		Header: map[string]string{"Content-Type": "text/plain"},
		Body:   []byte("hello"),
	})
	fmt.Printf("% x\n", payload[:2]) // magic byte and version

	m, err := mqtt.DecodeEnvelope(payload)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Header["Content-Type"], string(m.Body))

	_, err = mqtt.DecodeEnvelope([]byte(`{"not":"an envelope"}`))
	fmt.Println(err != nil)
	// Output:
	// c0 01
	// text/plain hello
	// true
}

// Choosing the broker by name, as --broker=mqtt does, after a blank import
// of this package.
func ExampleNew_byName() {
	b, err := broker.Open("mqtt", broker.Addrs("mqtt.example.com"), mqtt.QoS(0), mqtt.ClientID("orders-1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.String(), b.Address())
	// Output:
	// mqtt tcp://mqtt.example.com:1883
}
