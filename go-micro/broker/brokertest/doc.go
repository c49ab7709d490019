// Package brokertest is the conformance suite for [broker.Broker]
// implementations. Every implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		brokertest.Run(t, func(t *testing.T) broker.Broker {
//			return newBrokerOnTheTestBus(t)
//		})
//	}
//
// The suite asks the [NewBroker] function for several brokers in one subtest
// (a publisher and one or more subscribers) and expects them to share one
// bus: what one publishes, the others' subscribers receive. It connects and
// disconnects them itself.
//
// The suite is written for brokers that are eventually consistent and slow
// as well as for in-process ones: after subscribing it publishes probe
// messages (marked with the [ProbeHeader] header) until every subscriber
// under test has seen one, it never relies on timing, every wait has a
// deadline ([Timeout]), and every subtest uses topics of its own. Handlers
// ignore probe messages when they count, and implementations must deliver
// them like any other message.
package brokertest
