//! Annotations gatehouse reads, and the classification of every ingress-nginx annotation.
pub mod catalog;
pub mod configmap;
