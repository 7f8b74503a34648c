"""What the operator and the build engine share, and so what neither may own.

The operator (`datamesh.controller`) plans builds and the build engine (`datamesh.build`) runs them; both read
the same picture of the mesh and speak one wire format. That common ground lives here, below both:

- `world`: the read-only snapshot of Domains, DataProducts and GovernancePolicies that planning runs against;
- `resolve`: where a product's inputs and output live, cycles, and which inputs it may read;
- `access`: the governance evaluator's access and compliance decisions, in the shape `resolve` takes;
- `contract`: BuildRequest, BuildResult and DeleteRequest, the JSON the operator hands a build pod and reads back.

Layers point one way: `controller` and `build` import `mesh`; `mesh` imports neither, and neither imports the
other (tests/mesh/test_layers.py walks every import to keep it so).
"""
