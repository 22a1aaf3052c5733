export { demoActor, type DemoWorkParams } from './demo.actor.js';
export { demoMachine, type DemoContext } from './demo.machine.js';
export { demoEventSchemas, type DemoEvent } from './demo.events.js';
