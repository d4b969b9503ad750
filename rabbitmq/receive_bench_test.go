package rabbitmq

import (
	"reflect"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The two ways to receive from amqp091-go's one-channel-per-consumer API
// without a goroutine of ours per consumer being a given (package doc,
// "Goroutines per consumer"): a forwarder goroutine per channel into one
// queue (what forward does), or a few goroutines each running reflect.Select
// over a group of channels. Both receive one delivery from each of
// benchConsumers channels per op, as a fan-out does; the unicast variants one
// delivery at a time.
const benchConsumers = 10000

func benchChans() []chan amqp.Delivery {
	chans := make([]chan amqp.Delivery, benchConsumers)
	for i := range chans {
		chans[i] = make(chan amqp.Delivery)
	}
	return chans
}

func startForwarders(chans []chan amqp.Delivery, out chan<- amqp.Delivery) {
	for _, c := range chans {
		go func() {
			for d := range c {
				out <- d
			}
		}()
	}
}

// startSelectors runs one goroutine per group of chans, each selecting over
// its group and then sweeping it without blocking.
func startSelectors(chans []chan amqp.Delivery, group int, out chan<- amqp.Delivery, quit chan struct{}) {
	for s := 0; s < len(chans); s += group {
		g := chans[s:min(s+group, len(chans))]
		go func() {
			cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(quit)}}
			for _, c := range g {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
			}
			for {
				i, v, _ := reflect.Select(cases)
				if i == 0 {
					return
				}
				out <- v.Interface().(amqp.Delivery)
				for got := true; got; {
					got = false
					for _, c := range g {
						select {
						case d := <-c:
							out <- d
							got = true
						default:
						}
					}
				}
			}
		}()
	}
}

func fanOut(b *testing.B, chans []chan amqp.Delivery, out chan amqp.Delivery) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		go func() {
			for _, c := range chans {
				c <- amqp.Delivery{DeliveryTag: 1}
			}
		}()
		for range chans {
			<-out
		}
	}
	b.StopTimer()
}

func BenchmarkReceiveFanOutForwarders(b *testing.B) {
	chans, out := benchChans(), make(chan amqp.Delivery, dispatchQueue)
	startForwarders(chans, out)
	defer func() {
		for _, c := range chans {
			close(c)
		}
	}()
	fanOut(b, chans, out)
}

func benchFanOutSelect(b *testing.B, group int) {
	chans, out, quit := benchChans(), make(chan amqp.Delivery, dispatchQueue), make(chan struct{})
	startSelectors(chans, group, out, quit)
	defer close(quit)
	fanOut(b, chans, out)
}

func BenchmarkReceiveFanOutSelect16(b *testing.B) { benchFanOutSelect(b, 16) }
func BenchmarkReceiveFanOutSelect64(b *testing.B) { benchFanOutSelect(b, 64) }

func unicast(b *testing.B, chans []chan amqp.Delivery, out chan amqp.Delivery) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		chans[i%len(chans)] <- amqp.Delivery{DeliveryTag: 1}
		<-out
	}
}

func BenchmarkReceiveUnicastForwarders(b *testing.B) {
	chans, out := benchChans(), make(chan amqp.Delivery, dispatchQueue)
	startForwarders(chans, out)
	defer func() {
		for _, c := range chans {
			close(c)
		}
	}()
	unicast(b, chans, out)
}

func BenchmarkReceiveUnicastSelect16(b *testing.B) {
	chans, out, quit := benchChans(), make(chan amqp.Delivery, dispatchQueue), make(chan struct{})
	startSelectors(chans, 16, out, quit)
	defer close(quit)
	unicast(b, chans, out)
}
