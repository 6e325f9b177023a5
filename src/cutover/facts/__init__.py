"""Facts about the two sides, as data: Kubernetes API groups and annotation prefixes
(`kube`), every ingress-nginx annotation (`annotations`), and what each Cilium release does
(`cilium`). Code elsewhere reads these; nothing else defines them."""
