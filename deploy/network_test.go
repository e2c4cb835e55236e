package deploy

import (
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// postgresPort is where the database listens (RDS, outside the cluster).
const postgresPort = 5432

// knativeNamespaces may reach the functions: Knative's activator and autoscaler, and the
// cluster-local gateway of net-kourier.
var knativeNamespaces = map[string]bool{"knative-serving": true, "kourier-system": true}

// metricsPort and metricsNamespace: Prometheus may scrape the functions' METRICS_PORT, and
// reach nothing else of them.
const (
	metricsPort      = 9090
	metricsNamespace = "monitoring"
)

// checkNetworkPolicies evaluates the NetworkPolicies against the pods the overlay runs (each
// Deployment's and Knative Service's pod labels): only Hasura's pods and Knative's namespaces
// reach the functions, and no pod but the functions' and Hasura's may connect to PostgreSQL.
func checkNetworkPolicies(objs []object) []error {
	var errs []error
	var pols []networkingv1.NetworkPolicy
	pods := map[string]labels.Set{}
	for _, o := range objs {
		switch {
		case o.Kind == "NetworkPolicy":
			var p networkingv1.NetworkPolicy
			if err := yaml.UnmarshalStrict(o.YAML, &p); err != nil {
				errs = append(errs, fmt.Errorf("%s: strict decode: %w", o, err))
				continue
			}
			pols = append(pols, p)
		case o.Kind == "Deployment" || o.Kind == "Service" && o.APIVersion == "serving.knative.dev/v1":
			set := labels.Set{}
			for k, v := range mapOf(get(o.Map, "spec", "template", "metadata", "labels")) {
				set[k] = str(v)
			}
			pods[o.Name] = set
		}
	}
	selects := func(s *metav1.LabelSelector, pod labels.Set) bool {
		sel, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("NetworkPolicy selector %v: %w", s, err))
			return false
		}
		return sel.Matches(pod)
	}
	has := func(p networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
		for _, pt := range p.Spec.PolicyTypes {
			if pt == t {
				return true
			}
		}
		return false
	}

	// Who reaches the functions.
	limited, hasuraIn := false, false
	for _, p := range pols {
		if !has(p, networkingv1.PolicyTypeIngress) || !selects(&p.Spec.PodSelector, pods["functions"]) {
			continue
		}
		limited = true
		for _, rule := range p.Spec.Ingress {
			if onlyPort(rule.Ports, metricsPort) {
				for _, peer := range rule.From {
					if peer.PodSelector != nil || peer.IPBlock != nil || peer.NamespaceSelector == nil ||
						len(peer.NamespaceSelector.MatchLabels) != 1 || peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != metricsNamespace {
						errs = append(errs, fmt.Errorf("NetworkPolicy %s lets more than namespace %s scrape the functions' metrics", p.Name, metricsNamespace))
					}
				}
				if len(rule.From) == 0 {
					errs = append(errs, fmt.Errorf("NetworkPolicy %s lets every source scrape the functions' metrics", p.Name))
				}
				continue
			}
			if len(rule.From) == 0 {
				errs = append(errs, fmt.Errorf("NetworkPolicy %s lets every source reach the functions", p.Name))
			}
			for _, peer := range rule.From {
				switch {
				case peer.IPBlock != nil:
					errs = append(errs, fmt.Errorf("NetworkPolicy %s lets the addresses %s reach the functions", p.Name, peer.IPBlock.CIDR))
				case peer.NamespaceSelector != nil:
					ns := peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
					if !knativeNamespaces[ns] || len(peer.NamespaceSelector.MatchLabels) != 1 || len(peer.NamespaceSelector.MatchExpressions) > 0 {
						errs = append(errs, fmt.Errorf("NetworkPolicy %s lets namespaces %v reach the functions; only Knative's may", p.Name, peer.NamespaceSelector))
					}
				case peer.PodSelector != nil:
					for name, pod := range pods {
						if selects(peer.PodSelector, pod) {
							if name != "hasura" {
								errs = append(errs, fmt.Errorf("NetworkPolicy %s lets %s reach the functions; only Hasura may", p.Name, name))
							} else {
								hasuraIn = true
							}
						}
					}
				}
			}
		}
	}
	if !limited {
		errs = append(errs, fmt.Errorf("no NetworkPolicy limits who reaches the functions"))
	} else if !hasuraIn {
		errs = append(errs, fmt.Errorf("the NetworkPolicies keep Hasura from reaching the functions"))
	}

	// Who reaches the database: a pod selected by an Egress policy connects only where one of
	// its rules allows; one no such policy selects connects anywhere.
	for name, pod := range pods {
		selected, reaches := false, false
		for _, p := range pols {
			if !has(p, networkingv1.PolicyTypeEgress) || !selects(&p.Spec.PodSelector, pod) {
				continue
			}
			selected = true
			for _, rule := range p.Spec.Egress {
				reaches = reaches || allowsOutside(rule, postgresPort)
			}
		}
		if !selected {
			reaches = true
		}
		switch {
		case name == "functions" || name == "hasura":
			if !reaches {
				errs = append(errs, fmt.Errorf("the NetworkPolicies cut %s off the database (port %d)", name, postgresPort))
			}
		case reaches:
			errs = append(errs, fmt.Errorf("%s may connect to PostgreSQL (port %d): only the functions and Hasura may", name, postgresPort))
		}
	}
	return errs
}

// onlyPort tells whether ports name port and nothing else.
func onlyPort(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	for _, p := range ports {
		if p.Port == nil || p.Port.IntVal != port || p.EndPort != nil {
			return false
		}
	}
	return len(ports) > 0
}

// allowsOutside tells whether rule lets a pod connect to port on an address outside the
// cluster (the database is not a pod, so only an empty to or an ipBlock reaches it).
func allowsOutside(rule networkingv1.NetworkPolicyEgressRule, port int32) bool {
	outside := len(rule.To) == 0
	for _, peer := range rule.To {
		outside = outside || peer.IPBlock != nil
	}
	if !outside {
		return false
	}
	if len(rule.Ports) == 0 {
		return true
	}
	for _, p := range rule.Ports {
		if p.Port == nil {
			return true
		}
		end := p.Port.IntVal
		if p.EndPort != nil {
			end = *p.EndPort
		}
		if p.Port.IntVal <= port && port <= end || p.Port.IntVal == 0 { // a named port could be anything
			return true
		}
	}
	return false
}
