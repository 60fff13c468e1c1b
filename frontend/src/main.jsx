import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { apiUrlFromConfig, createApi, createApiClient } from './api/index.js';
import { App } from './components/App.jsx';
import './styles/app.css';

// window.TODOLIST_CONFIG comes from config.js, loaded before this bundle and
// replaced per deployment; see README.md.
const client = createApiClient({ baseUrl: apiUrlFromConfig(window.TODOLIST_CONFIG) });

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App api={createApi(client)} />
  </StrictMode>,
);
