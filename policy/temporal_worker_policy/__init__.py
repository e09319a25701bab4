"""Our checks on Temporal worker Deployments, as plain functions (`checks`), declared as
policies (`policies`) and served to the Pulumi engine as a CrossGuard policy pack (`pack`, the
only module that needs `pulumi_policy`)."""
