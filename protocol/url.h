// Placeholder: implemented by the url module work.
#pragma once
