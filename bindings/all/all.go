// Package all links in every binding driver of Tether, so that a program
// importing it knows every binding type: the tether command line lists and
// scaffolds them all. Functions do not import it; each links only the
// drivers its components use.
//
//	import _ "github.com/tetherfn/tether/bindings/all"
//
//	for _, t := range bindings.Types() {
//		fmt.Println(t.Name, t.Directions)
//	}
//
// A test keeps the list in step with the driver packages under bindings/.
package all

import (
	_ "github.com/tetherfn/tether/bindings/cron"
	_ "github.com/tetherfn/tether/bindings/http"
	_ "github.com/tetherfn/tether/bindings/kafka"
	_ "github.com/tetherfn/tether/bindings/localstorage"
	_ "github.com/tetherfn/tether/bindings/memory"
	_ "github.com/tetherfn/tether/bindings/mqtt"
	_ "github.com/tetherfn/tether/bindings/nats"
	_ "github.com/tetherfn/tether/bindings/postgres"
	_ "github.com/tetherfn/tether/bindings/pubsub"
	_ "github.com/tetherfn/tether/bindings/rabbitmq"
	_ "github.com/tetherfn/tether/bindings/redis"
	_ "github.com/tetherfn/tether/bindings/smtp"
	_ "github.com/tetherfn/tether/bindings/sqs"
	_ "github.com/tetherfn/tether/bindings/twilio"
)
