package deploy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/nats"
	"github.com/tetherfn/tether/bindings/postgres"
)

// scaling is how a function's replicas are chosen: by KEDA, or fixed.
type scaling struct {
	keda     *kedaPlan // nil: fixed replicas
	replicas int32     // when fixed
	why      string    // written above the ScaledObject or the Deployment
}

type kedaPlan struct {
	min, max    int32
	triggers    []Trigger
	auth        []SecretTarget
	podIdentity string // "aws", "gcp": KEDA authenticates as the workload
}

// scaling maps the trigger component to KEDA. Targets are per replica: one
// replica handles maxConcurrency messages at once, so that many waiting
// messages is one replica's worth of work.
func (r *renderer) scaling(c *component.Component) scaling {
	target := strconv.Itoa(c.Delivery.MaxConcurrency)
	p := &kedaPlan{min: 0, max: int32(r.opts.MaxReplicas)}
	md := map[string]string{}
	switch c.Binding.Name {
	case "bindings.aws.sqs":
		if !hasValue(c, "region") {
			r.fail(c, "KEDA's aws-sqs-queue scaler needs the queue's region: set metadata region")
			return scaling{}
		}
		md["queueURL"] = c.Metadata["queueName"]
		md["queueLength"] = target
		md["activationQueueLength"] = "0"
		r.kedaParam(c, p, md, "awsRegion", "region", false)
		r.kedaParam(c, p, md, "awsEndpoint", "endpoint", false)
		r.kedaParam(c, p, nil, "awsAccessKeyID", "accessKey", true)
		r.kedaParam(c, p, nil, "awsSecretAccessKey", "secretKey", true)
		r.kedaParam(c, p, nil, "awsSessionToken", "sessionToken", true)
		if len(p.auth) == 0 {
			p.podIdentity = "aws"
		}
		p.triggers = []Trigger{{Type: "aws-sqs-queue", Metadata: md}}
		return scaling{keda: p, why: "KEDA aws-sqs-queue: one replica per " + target + " messages (maxConcurrency), visible and in flight;\nzero replicas while the queue is empty."}

	case "bindings.kafka":
		md["bootstrapServers"] = c.Metadata["brokers"]
		md["consumerGroup"] = c.Metadata["consumerGroup"]
		md["lagThreshold"] = target
		md["activationLagThreshold"] = "0"
		md["offsetResetPolicy"] = map[string]string{"oldest": "earliest"}[c.Metadata["initialOffset"]]
		if md["offsetResetPolicy"] == "" {
			md["offsetResetPolicy"] = "latest"
		}
		md["allowIdleConsumers"] = "false"
		r.kafkaAuth(c, p, md)
		for _, topic := range strings.Split(c.Metadata["topics"], ",") {
			topic = strings.TrimSpace(topic)
			if topic == "" {
				continue
			}
			tmd := clone(md)
			tmd["topic"] = topic
			p.triggers = append(p.triggers, Trigger{Type: "kafka", Name: triggerName(topic), Metadata: tmd})
		}
		return scaling{keda: p, why: "KEDA kafka, one trigger per topic: one replica per " + target + " messages of consumer-group lag\n(maxConcurrency); zero replicas without lag. KEDA never scales past the topic's\npartition count (allowIdleConsumers: false): more replicas would sit idle."}

	case "bindings.rabbitmq":
		md["protocol"] = "amqp"
		md["queueName"] = c.Metadata["queueName"]
		md["mode"] = "QueueLength"
		md["value"] = target
		md["activationValue"] = "0"
		r.kedaParam(c, p, md, "host", "host", false)
		p.triggers = []Trigger{{Type: "rabbitmq", Metadata: md}}
		return scaling{keda: p, why: "KEDA rabbitmq: one replica per " + target + " messages in the queue (maxConcurrency),\nready and unacked; zero replicas while it is empty."}

	case "bindings.redis":
		if c.Metadata["redisType"] == "cluster" || c.Metadata["failover"] == "true" {
			r.fail(c, "KEDA's redis-streams mapping covers a single node; for a cluster or Sentinel write the ScaledObject by hand (see docs/deploy.md)")
			return scaling{}
		}
		addr := c.Metadata["redisHost"]
		if port := c.Metadata["redisPort"]; port != "" && !strings.Contains(addr, ":") {
			addr += ":" + port
		}
		if _, ref := c.Refs["redisHost"]; ref {
			r.kedaParam(c, p, md, "address", "redisHost", false)
		} else {
			md["address"] = addr
		}
		md["stream"] = c.Metadata["stream"]
		md["consumerGroup"] = c.Metadata["consumerGroup"]
		if md["consumerGroup"] == "" {
			md["consumerGroup"] = c.Name
		}
		md["lagCount"] = target
		md["activationLagCount"] = "0"
		md["databaseIndex"] = c.Metadata["redisDB"]
		if c.Metadata["enableTLS"] == "true" {
			md["enableTLS"] = "true"
		}
		r.kedaParam(c, p, nil, "username", "redisUsername", true)
		r.kedaParam(c, p, nil, "password", "redisPassword", true)
		p.triggers = []Trigger{{Type: "redis-streams", Metadata: md}}
		return scaling{keda: p, why: "KEDA redis-streams on the consumer group's lag (Redis 7+), not its pending entries:\nlag counts entries no replica has read yet, so it can wake the function from zero\nreplicas; one replica per " + target + " entries (maxConcurrency)."}

	case "bindings.nats":
		mon := c.Metadata["monitoringEndpoint"]
		if mon == "" {
			r.fail(c, "KEDA's nats-jetstream scaler reads the consumer's lag from the server's monitoring endpoint: add metadata monitoringEndpoint (host:port, nats-server -m 8222)")
			return scaling{}
		}
		consumer := c.Metadata["durableName"]
		if consumer == "" {
			consumer = nats.ConsumerName(c.Name)
		}
		md["natsServerMonitoringEndpoint"] = mon
		md["account"] = "$G"
		md["stream"] = c.Metadata["stream"]
		md["consumer"] = consumer
		md["lagThreshold"] = target
		md["activationLagThreshold"] = "0"
		p.triggers = []Trigger{{Type: "nats-jetstream", Metadata: md}}
		return scaling{keda: p, why: "KEDA nats-jetstream: one replica per " + target + " messages of the durable consumer's lag\n(maxConcurrency), read from the monitoring endpoint; zero replicas without lag."}

	case "bindings.postgresql":
		q, err := postgres.CountQuery(c.Metadata["table"])
		if err != nil {
			r.fail(c, "table: %v", err)
			return scaling{}
		}
		md["query"] = q
		md["targetQueryValue"] = target
		md["activationTargetQueryValue"] = "0"
		r.kedaParam(c, p, nil, "connection", "connectionString", true)
		p.triggers = []Trigger{{Type: "postgresql", Metadata: md}}
		return scaling{keda: p, why: "KEDA postgresql on the queue table's row count (rows are deleted when acked): one\nreplica per " + target + " rows (maxConcurrency); zero replicas while the table is empty."}

	case "bindings.gcp.pubsub":
		sub := c.Metadata["subscription"]
		if project := c.Metadata["projectId"]; project != "" && !strings.HasPrefix(sub, "projects/") {
			sub = "projects/" + project + "/subscriptions/" + sub
		}
		md["subscriptionName"] = sub
		md["mode"] = "SubscriptionSize"
		md["value"] = target
		md["activationValue"] = "0"
		r.kedaParam(c, p, nil, "GoogleApplicationCredentials", "credentialsJson", true)
		if len(p.auth) == 0 {
			p.podIdentity = "gcp"
		}
		p.triggers = []Trigger{{Type: "gcp-pubsub", Metadata: md}}
		return scaling{keda: p, why: "KEDA gcp-pubsub on the subscription's undelivered messages: one replica per " + target + "\n(maxConcurrency); zero replicas while it is empty."}

	case "bindings.cron":
		if hasValue(c, "lockRedisHost") || hasValue(c, "lockConnectionString") {
			return scaling{replicas: 2, why: "Fixed at 2 replicas: a schedule has no backlog to scale on, and the single-fire lock\n(lockRedisHost or lockConnectionString) makes one replica fire each tick while the\nother stands by."}
		}
		return scaling{replicas: 1, why: "Fixed at 1 replica: a schedule has no backlog to scale on, and without a single-fire\nlock (lockRedisHost or lockConnectionString) every replica would fire every tick."}

	case "bindings.mqtt3":
		topic := c.Metadata["topic"]
		if strings.HasPrefix(topic, "$share/") && r.opts.PrometheusURL != "" {
			p.min = 1
			p.triggers = []Trigger{{Type: "prometheus", Metadata: map[string]string{
				"serverAddress": r.opts.PrometheusURL,
				"query":         fmt.Sprintf(`sum(tether_messages_in_flight{app_kubernetes_io_name=%q})`, r.fn.Name),
				"threshold":     target,
			}}}
			return scaling{keda: p, why: "KEDA prometheus on Tether's in-flight gauge (tether_messages_in_flight): MQTT brokers\nexpose no backlog, but a shared subscription splits messages between replicas; one\nreplica per " + target + " messages in flight (maxConcurrency), at least one, since with\nnone there is no metric to wake on."}
		}
		why := "Fixed at 1 replica: MQTT brokers expose no backlog for KEDA, and each replica of a\nplain subscription receives every message."
		if strings.HasPrefix(topic, "$share/") {
			why += "\nThe topic is a shared subscription: with --prometheus URL, KEDA's prometheus scaler\nscales it on Tether's in-flight gauge instead."
		} else {
			why += "\nSubscribe to $share/<group>/<topic> to spread messages over replicas, then deploy\nwith --prometheus URL to scale on the in-flight gauge."
		}
		return scaling{replicas: 1, why: why}

	case "bindings.http":
		return scaling{replicas: 1, why: "Fixed at 1 replica: KEDA's built-in scalers cannot see HTTP requests. Deploy with\n--target knative to scale webhooks on requests, down to zero."}
	}
	return scaling{replicas: 1, why: fmt.Sprintf("Fixed at 1 replica: tether deploy has no KEDA mapping for %s.", c.Binding.Name)}
}

// kedaParam passes component key to the scaler as param: through the
// TriggerAuthentication when it comes from a secret, in metadata (md)
// otherwise. authOnly params are ones KEDA reads from a Secret only.
func (r *renderer) kedaParam(c *component.Component, p *kedaPlan, md map[string]string, param, key string, authOnly bool) {
	if src, ok := r.secrets.byKey[c.Name][key]; ok {
		p.auth = append(p.auth, SecretTarget{Parameter: param, Name: src.secret, Key: src.key})
		return
	}
	v := c.Metadata[key]
	if v == "" {
		return
	}
	if authOnly || md == nil {
		r.fail(c, "metadata %q: KEDA reads %s from a Secret only (TriggerAuthentication): give it with secretKeyRef or envRef", key, param)
		return
	}
	md[param] = v
}

// kafkaAuth maps the kafka component's authentication to KEDA's.
func (r *renderer) kafkaAuth(c *component.Component, p *kedaPlan, md map[string]string) {
	switch c.Metadata["authType"] {
	case "password":
		mech := map[string]string{"SHA-256": "scram_sha256", "SCRAM-SHA-256": "scram_sha256", "SHA-512": "scram_sha512", "SCRAM-SHA-512": "scram_sha512"}[c.Metadata["saslMechanism"]]
		if mech == "" {
			mech = "plaintext"
		}
		md["sasl"] = mech
		r.kedaParam(c, p, nil, "username", "saslUsername", true)
		r.kedaParam(c, p, nil, "password", "saslPassword", true)
	case "mtls":
		r.kedaParam(c, p, nil, "cert", "clientCert", true)
		r.kedaParam(c, p, nil, "key", "clientKey", true)
	case "oidc":
		r.fail(c, "authType oidc: KEDA's kafka scaler takes OAuth through its own TriggerAuthentication settings; write the ScaledObject by hand (see docs/deploy.md)")
	}
	if c.Metadata["disableTls"] != "true" && c.Metadata["authType"] != "none" && c.Metadata["authType"] != "" {
		md["tls"] = "enable"
		r.kedaParam(c, p, nil, "ca", "caCert", true)
	}
}

// hasValue reports whether the component sets key, in the file or by
// reference.
func hasValue(c *component.Component, key string) bool {
	_, ref := c.Refs[key]
	return ref || c.Metadata[key] != ""
}

// triggerName is a KEDA trigger name made from a topic.
func triggerName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (r *renderer) scaledObject(s scaling) Object {
	p := s.keda
	return Object{
		Kind: "ScaledObject", Name: r.fn.Name, Comment: s.why,
		Value: ScaledObject{
			Header: header("keda.sh/v1alpha1", "ScaledObject", r.meta(r.fn.Name)),
			Spec: ScaledObjectSpec{
				ScaleTargetRef:  ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: r.fn.Name},
				PollingInterval: ptr(int32(15)),
				// Longer than the drain, so a replica scaled in has finished.
				CooldownPeriod:  ptr(int32(max(300, r.opts.ShutdownGrace.Seconds()+GraceMargin.Seconds()))),
				MinReplicaCount: ptr(p.min),
				MaxReplicaCount: ptr(p.max),
				Triggers:        r.withAuth(p),
			},
		},
	}
}

func (r *renderer) withAuth(p *kedaPlan) []Trigger {
	if len(p.auth) == 0 && p.podIdentity == "" {
		return p.triggers
	}
	out := make([]Trigger, len(p.triggers))
	for i, t := range p.triggers {
		t.AuthenticationRef = &AuthRef{Name: r.fn.Name}
		out[i] = t
	}
	return out
}

func (r *renderer) triggerAuth(s scaling) *Object {
	p := s.keda
	if len(p.auth) == 0 && p.podIdentity == "" {
		return nil
	}
	spec := TriggerAuthSpec{SecretTargetRef: p.auth}
	comment := "The scaler's credentials, read by KEDA from the function's Secrets; never inline."
	if p.podIdentity != "" {
		spec.PodIdentity = &PodIdentity{Provider: p.podIdentity}
		comment = "No credentials in the component: KEDA authenticates through the cloud's workload identity\n(" + p.podIdentity + "); give the role it uses read access to the queue's metrics."
		if p.podIdentity == "aws" {
			spec.PodIdentity.IdentityOwner = "workload" // the role of the function's ServiceAccount
			comment = "No credentials in the component: KEDA assumes the IAM role of the function's\nServiceAccount (EKS pod identity or IRSA); annotate the ServiceAccount with it."
		}
	}
	return &Object{
		Kind: "TriggerAuthentication", Name: r.fn.Name, Comment: comment,
		Value: TriggerAuthentication{Header: header("keda.sh/v1alpha1", "TriggerAuthentication", r.meta(r.fn.Name)), Spec: spec},
	}
}
