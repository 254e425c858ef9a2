import { MutationCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError } from './api.ts';
import { App } from './app.tsx';
import './styles.css';

const queryClient: QueryClient = new QueryClient({
  // Every change the console makes (or has refused) is a new line of the audit trail: read it again when next shown.
  mutationCache: new MutationCache({
    onSettled: () =>
      void queryClient.invalidateQueries({
        predicate: (query) => query.queryKey[1] === 'audit-events',
      }),
  }),
  defaultOptions: {
    queries: {
      // A 4xx will not fix itself by asking again; network blips and 5xx get one more try.
      retry: (failures, error) =>
        failures < 1 && !(error instanceof ApiError && error.status >= 400 && error.status < 500),
      refetchOnWindowFocus: false,
      staleTime: 5_000,
    },
  },
});

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <App />
      </QueryClientProvider>
    </StrictMode>,
  );
}
