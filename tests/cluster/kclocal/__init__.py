"""The local control plane: real kube-apiserver, etcd, controller-manager and scheduler laid out like kubeadm nodes."""
