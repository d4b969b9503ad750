package rabbitmq

// Lanes is the number of lanes, for the tests that count streams per lane.
const Lanes = lanes
