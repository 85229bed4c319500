// Placeholder: implemented by the caps module work.
#pragma once
