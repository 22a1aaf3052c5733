import { testEventStoreContract } from '../test/contracts/eventStore.contract.js';
import { InMemoryEventStore } from './inMemoryEventStore.js';

testEventStoreContract('InMemoryEventStore', () =>
  Promise.resolve({ store: new InMemoryEventStore(), cleanup: () => Promise.resolve() }),
);
