// The jest suite of tests/integration/node_sdk.rs, set up as a project of a user's would be: no
// setup files, no transform settings (babel-jest transforms the tests, as by default).
module.exports = { testEnvironment: "node" };
